//! Whether a file or a share link may still be served: not expired, under its download limit.
//! A leaf, so the download path, the slots and the service all ask the same question.

use chrono::{DateTime, Utc};
use entity::{file, share_link};

/// Whether a file may be served now.
pub fn file_serving(f: &file::Model, now: DateTime<Utc>) -> bool {
    f.expires_at.is_none_or(|e| e > now) && f.max_downloads.is_none_or(|m| f.download_count < m)
}

/// Whether a link may be served now.
pub fn link_serving(l: &share_link::Model, now: DateTime<Utc>) -> bool {
    l.expires_at.is_none_or(|e| e > now) && l.max_downloads.is_none_or(|m| l.download_count < m)
}
