//! Request and response bodies of the users API.

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::{Object, types::MaybeUndefined};

/// A user as every API response shows it; never any password material.
#[derive(Debug, Clone, Object)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `admin` or `viewer`.
    pub role: String,
    pub disabled: bool,
    /// Incremented by every write; the `ETag` is `"<version>"`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    pub username: String,
    /// Unique, compared case-insensitively.
    pub email: String,
    pub display_name: Option<String>,
    /// At least 8 characters.
    pub password: String,
    /// `admin` or `viewer`.
    pub role: String,
}

/// Partial update: only the fields present change. `display_name: null` clears it.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: MaybeUndefined<String>,
    /// `admin` or `viewer`.
    pub role: Option<String>,
    pub disabled: Option<bool>,
    /// Sets a new password and ends all the user's sessions.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct UserPage {
    pub items: Vec<User>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}
