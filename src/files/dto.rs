//! Request and response bodies of the files, links and tasks APIs.

use chrono::{DateTime, Utc};
use entity::{file, share_link};
use poem_openapi::{Object, types::MaybeUndefined};

use crate::strict::StrictString;

/// A stored file's metadata.
#[derive(Debug, Clone, Object)]
pub struct File {
    pub id: String,
    pub name: String,
    /// Bytes.
    pub size: i64,
    pub content_type: String,
    /// Lower-case hex SHA-256 of the bytes; the download `ETag` is `"<sha256>"`.
    pub sha256: String,
    /// Id of the user who uploaded or imported it (null once that user is deleted).
    #[oai(nullable)]
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Completed downloads (API and share links).
    pub download_count: i64,
    /// After this instant the file is no longer served (410) and is soon deleted.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Completed downloads allowed in all; then 410.
    #[oai(nullable)]
    pub max_downloads: Option<i64>,
    /// Incremented by every metadata change; `GET /api/files/{id}` gives it as `ETag`.
    pub version: i64,
}

impl From<file::Model> for File {
    fn from(m: file::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            size: m.size,
            content_type: m.content_type,
            sha256: m.sha256,
            uploaded_by: m.uploaded_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            download_count: m.download_count,
            expires_at: m.expires_at,
            max_downloads: m.max_downloads,
            version: m.version,
        }
    }
}

impl File {
    pub fn to_json(&self) -> serde_json::Value {
        poem_openapi::types::ToJSON::to_json(self).unwrap_or_default()
    }
}

/// A page of files.
#[derive(Debug, Clone, Object)]
pub struct FilePage {
    pub items: Vec<File>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
    /// Cursor of the next page (pass as `after`); absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

/// Partial update: only the fields present change; `null` clears `expires_at`/`max_downloads`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateFileRequest {
    pub name: Option<StrictString>,
    #[oai(nullable)]
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    #[oai(nullable)]
    pub max_downloads: MaybeUndefined<i64>,
}

/// A public download link.
#[derive(Debug, Clone, Object)]
pub struct Link {
    /// Secret part of the URL (256 random bits).
    pub token: String,
    /// Absolute URL of the public download, `…/d/<token>`.
    pub url: String,
    pub file_id: String,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub max_downloads: Option<i64>,
    pub download_count: i64,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub created_by: Option<String>,
}

impl Link {
    pub fn from_model(m: share_link::Model, base_url: &str) -> Self {
        Self {
            url: format!("{}/d/{}", base_url.trim_end_matches('/'), m.token),
            token: m.token,
            file_id: m.file_id,
            expires_at: m.expires_at,
            max_downloads: m.max_downloads,
            download_count: m.download_count,
            created_at: m.created_at,
            created_by: m.created_by,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct LinkPage {
    pub items: Vec<Link>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateLinkRequest {
    /// Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// At least 1.
    pub max_downloads: Option<i64>,
}

/// A short-lived URL that downloads one file with a plain GET, for browsers.
#[derive(Debug, Clone, Object)]
pub struct DownloadUrl {
    /// Absolute URL, `…/api/downloads/<ticket>`; valid for any number of requests (ranges,
    /// resumes) until `expires_at`, and only while the session that asked for it is live.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Files to bundle into one ZIP archive.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// File ids, 1 to 1000 and each once; the archive holds them in this order.
    pub ids: Vec<StrictString>,
    /// The archive's file name (sanitised; `.zip` appended when missing). Default
    /// `files-<YYYY-MM-DD>.zip` (UTC).
    pub name: Option<StrictString>,
}

/// A short-lived URL that streams one ZIP archive with a plain GET, for browsers.
#[derive(Debug, Clone, Object)]
pub struct ArchiveUrl {
    /// Absolute URL, `…/api/archives/<ticket>`; valid until `expires_at`, and only while the
    /// session that asked for it is live. It opens this archive and nothing else.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}
