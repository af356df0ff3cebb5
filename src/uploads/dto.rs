//! Response bodies of `GET /api/uploads`.

use chrono::{DateTime, Utc};
use entity::upload;
use poem_openapi::Object;

/// An unfinished resumable upload, enough for a client to offer resuming it.
#[derive(Debug, Clone, Object)]
pub struct Upload {
    pub id: String,
    /// The tus upload URL (`HEAD` it, then `PATCH` from its `Upload-Offset`).
    pub location: String,
    /// The id the file will have once complete.
    pub file_id: String,
    pub name: String,
    /// The `filetype` metadata, if any.
    #[oai(nullable)]
    pub content_type: Option<String>,
    /// Bytes stored so far.
    pub offset: i64,
    /// `Upload-Length`.
    pub length: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it is deleted unless more bytes arrive.
    pub expires_at: DateTime<Utc>,
}

impl From<upload::Model> for Upload {
    fn from(m: upload::Model) -> Self {
        Self {
            location: super::service::location(&m.id),
            id: m.id,
            file_id: m.file_id,
            name: m.name,
            content_type: m.content_type,
            offset: m.upload_offset,
            length: m.upload_length,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            expires_at: m.expires_at,
        }
    }
}

/// A page of uploads.
#[derive(Debug, Clone, Object)]
pub struct UploadPage {
    pub items: Vec<Upload>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}
