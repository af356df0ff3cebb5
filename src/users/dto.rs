//! Request and response bodies of the users API.

use chrono::{DateTime, Utc};
use entity::user;
use poem::{Body, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Object,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef},
    types::MaybeUndefined,
};

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

/// What `POST /api/users/import` did, or (dry run) would do (docs/API.md §4.4).
#[derive(Debug, Clone, Object)]
pub struct UserImportReport {
    /// Names the import in its `import.*` events.
    pub import_id: String,
    /// Users created (dry run: that would be created).
    pub created: u64,
    /// Rows not created (dry run: that would not be); `created + skipped` is every row.
    pub skipped: u64,
    /// Every problem of every row, by line (at most 100,000 entries; the counts stay exact).
    pub errors: Vec<UserImportError>,
}

/// One problem of one row of an import file.
#[derive(Debug, Clone, Object)]
pub struct UserImportError {
    /// The 1-based line of the file where the row starts (a CSV header is line 1).
    pub line: u64,
    /// The column / field at fault; null for a line that is not a JSON object.
    #[oai(nullable)]
    pub field: Option<String>,
    /// `required`, `invalid`, `too_short`, `too_long`, `duplicate`, `taken` or `invalid_json`.
    pub code: String,
    pub message: String,
}

/// Media types the import documents; any content type is read, `format` decides.
const IMPORT_TYPES: [&str; 2] = ["text/csv", "application/x-ndjson"];

/// The raw import file, taken unread: the handler checks the role first and then reads it
/// under the import's own limit (`import::MAX_BODY_BYTES`).
pub struct ImportBody {
    pub content_length: Option<u64>,
    pub body: Body,
}

impl<'a> ApiExtractor<'a> for ImportBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let schema = |description| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                description: Some(description),
                ..MetaSchema::new("string")
            }))
        };
        Some(MetaRequest {
            description: Some(
                "The file: CSV with a header row (`format=csv`) or JSON Lines (`format=jsonl`); \
                 at most 64 MiB. The `format` parameter decides, whatever the content type.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: IMPORT_TYPES[0],
                    schema: schema("CSV: a header row naming the columns, then one user per row."),
                },
                MetaMediaType {
                    content_type: IMPORT_TYPES[1],
                    schema: schema("JSON Lines: one user object per line."),
                },
            ],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Self {
            content_length: request
                .headers()
                .get(poem::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            // A request without a body is an empty file.
            body: body.take().unwrap_or_else(|_| Body::empty()),
        })
    }
}
