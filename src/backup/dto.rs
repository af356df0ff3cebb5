//! A backup as the API lists it and its events carry it (docs/API.md §8.1).

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde::Serialize;

use super::manifest::Manifest;

/// A backup: complete (it has a manifest), running on this server, or failed here.
#[derive(Debug, Clone, Object, Serialize)]
pub struct Backup {
    /// `YYYYMMDDTHHMMSSmmmZ-xxxx`: ids sort in the order backups were taken.
    pub id: String,
    /// `running`, `completed` or `failed`.
    pub status: String,
    /// `api`, `schedule` or `cli`.
    pub trigger: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// `database` (the snapshot), `objects` (copying file bytes), `manifest`, or `done`.
    pub phase: String,
    /// `sqlite` or `postgres`.
    pub database_backend: String,
    /// The last durable event in the backup (known once the snapshot is taken).
    #[oai(nullable)]
    pub last_seq: Option<i64>,
    /// The newest migration in the backup.
    #[oai(nullable)]
    pub schema_version: Option<String>,
    /// Files in the snapshot.
    pub objects_total: u64,
    /// Files handled so far (copied, or found in an earlier backup).
    pub objects_done: u64,
    pub objects_copied: u64,
    pub objects_reused: u64,
    pub bytes_copied: u64,
    /// The database plus every distinct object.
    pub size_bytes: u64,
    /// Why it failed.
    #[oai(nullable)]
    pub error: Option<String>,
}

impl Backup {
    /// A run that has just begun.
    pub fn running(id: String, trigger: &str, created_at: DateTime<Utc>, backend: &str) -> Self {
        Self {
            id,
            status: "running".into(),
            trigger: trigger.into(),
            created_at,
            finished_at: None,
            phase: "database".into(),
            database_backend: backend.into(),
            last_seq: None,
            schema_version: None,
            objects_total: 0,
            objects_done: 0,
            objects_copied: 0,
            objects_reused: 0,
            bytes_copied: 0,
            size_bytes: 0,
            error: None,
        }
    }

    pub fn from_manifest(m: &Manifest) -> Self {
        Self {
            id: m.id.clone(),
            status: "completed".into(),
            trigger: m.trigger.clone(),
            created_at: m.created_at,
            finished_at: Some(m.finished_at),
            phase: "done".into(),
            database_backend: m.database.backend.clone(),
            last_seq: Some(m.last_seq),
            schema_version: Some(m.schema.latest.clone()),
            objects_total: m.objects.len() as u64,
            objects_done: m.objects.len() as u64,
            objects_copied: m.stats.objects_copied,
            objects_reused: m.stats.objects_reused,
            bytes_copied: m.stats.bytes_copied,
            size_bytes: m.size_bytes(),
            error: None,
        }
    }
}

/// `GET /api/backups`.
#[derive(Debug, Object)]
pub struct BackupList {
    /// Newest first.
    pub items: Vec<Backup>,
}
