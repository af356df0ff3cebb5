//! Request and response bodies of the users API.

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::{Object, types::MaybeUndefined};

use super::model::{NewUser, UserChanges};
use crate::strict::StrictString;

/// A user as every API response shows it; never any password material.
#[derive(Debug, Clone, Object)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    #[oai(nullable)]
    pub display_name: Option<String>,
    /// `admin` or `viewer`.
    pub role: String,
    pub disabled: bool,
    /// Incremented by every write; the `ETag` is `"<version>"`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        Self {
            id: m.id,
            username: m.username,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
            disabled: m.disabled,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            last_login_at: m.last_login_at,
        }
    }
}

impl User {
    pub fn to_json(&self) -> serde_json::Value {
        poem_openapi::types::ToJSON::to_json(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 3–32 characters of `a-z 0-9 _ . -`, unique.
    pub username: StrictString,
    /// Unique, compared case-insensitively.
    pub email: StrictString,
    pub display_name: Option<StrictString>,
    /// At least 8 characters.
    pub password: StrictString,
    /// `admin` or `viewer`.
    pub role: StrictString,
}

/// Partial update: only the fields present change. `display_name: null` clears it.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub username: Option<StrictString>,
    pub email: Option<StrictString>,
    #[oai(nullable)]
    pub display_name: MaybeUndefined<StrictString>,
    /// `admin` or `viewer`.
    pub role: Option<StrictString>,
    pub disabled: Option<bool>,
    /// Sets a new password and ends all the user's sessions.
    pub password: Option<StrictString>,
}

impl From<CreateUserRequest> for NewUser {
    fn from(r: CreateUserRequest) -> Self {
        Self {
            username: r.username.into_inner(),
            email: r.email.into_inner(),
            display_name: r.display_name.map(StrictString::into_inner),
            password: r.password.into_inner(),
            role: r.role.into_inner(),
        }
    }
}

impl From<UpdateUserRequest> for UserChanges {
    fn from(r: UpdateUserRequest) -> Self {
        Self {
            username: r.username.map(StrictString::into_inner),
            email: r.email.map(StrictString::into_inner),
            display_name: match r.display_name {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(d.into_inner())),
            },
            role: r.role.map(StrictString::into_inner),
            disabled: r.disabled,
            password: r.password.map(StrictString::into_inner),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct UserPage {
    pub items: Vec<User>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
    /// Cursor of the next page (pass as `after`); absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}
