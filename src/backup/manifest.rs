//! The manifest of a backup (docs/API.md §8.2): what the backup holds, written last, so a backup
//! without one is not a backup. Everything a restore checks before touching anything is here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bumped when the layout changes in a way an older restore could not read.
pub const FORMAT: u32 = 1;

/// Backup ids sort as they were taken: `YYYYMMDDTHHMMSSmmmZ-xxxx` (UTC, to the millisecond).
pub fn new_id(now: DateTime<Utc>) -> String {
    let tail: u16 = rand::random();
    format!("{}-{tail:04x}", now.format("%Y%m%dT%H%M%S%3fZ"))
}

/// Whether `id` has the shape [`new_id`] gives (so it can name a key and a directory).
pub fn is_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 24
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..18].iter().all(u8::is_ascii_digit)
        && b[18] == b'Z'
        && b[19] == b'-'
        && b[20..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    /// `api`, `schedule` or `cli`.
    pub trigger: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The version of the binary that took it.
    pub switchboard_version: String,
    pub schema: Schema,
    pub database: DatabasePart,
    /// The last durable event in the snapshot: every write acknowledged before it is in the
    /// backup, nothing after it.
    pub last_seq: i64,
    /// The log's epoch at the snapshot (a restore gives the log a new one).
    pub epoch: String,
    /// Every file's object, as the snapshot's `files` table lists them.
    pub objects: Vec<ObjectEntry>,
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schema {
    /// The newest migration applied.
    pub latest: String,
    /// Every migration applied, in order.
    pub migrations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabasePart {
    /// `sqlite` (a `VACUUM INTO` copy) or `postgres` (a `pg_dump` custom-format archive).
    pub backend: String,
    /// The file's name inside the backup.
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectEntry {
    pub file_id: String,
    /// Where the object lives in the file store.
    pub storage_key: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Objects this backup copied.
    pub objects_copied: u64,
    /// Objects an earlier backup had copied already.
    pub objects_reused: u64,
    pub bytes_copied: u64,
}

impl Manifest {
    /// Bytes of the whole backup: the database and every distinct object.
    pub fn size_bytes(&self) -> u64 {
        let mut seen = std::collections::HashSet::new();
        self.database.size
            + self
                .objects
                .iter()
                .filter(|o| seen.insert(o.sha256.as_str()))
                .map(|o| o.size)
                .sum::<u64>()
    }

    /// Parses a manifest and checks what can be checked without the files.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::BadRequest(format!("the manifest is not readable: {e}")))?;
        if manifest.format != FORMAT {
            return Err(Error::BadRequest(format!(
                "the backup has format {}; this version reads format {FORMAT}",
                manifest.format
            )));
        }
        if !is_id(&manifest.id) {
            return Err(Error::BadRequest("the manifest's id is malformed".into()));
        }
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex64(&manifest.database.sha256)
            || !matches!(manifest.database.backend.as_str(), "sqlite" | "postgres")
            || manifest.objects.iter().any(|o| !hex64(&o.sha256))
        {
            return Err(Error::BadRequest("the manifest is malformed".into()));
        }
        Ok(manifest)
    }

    /// Migrations of the backup this binary does not know: the backup is from a newer schema.
    pub fn unknown_migrations(&self, known: &[String]) -> Vec<String> {
        self.schema
            .migrations
            .iter()
            .filter(|m| !known.contains(m))
            .cloned()
            .collect()
    }
}

/// Where an object lives in a backup location (shared by every backup there).
pub fn object_key(sha256: &str) -> String {
    format!("objects/{}/{sha256}", sha256.get(..2).unwrap_or("00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_recognised() {
        let a = new_id("2026-01-02T03:04:05Z".parse().expect("a time"));
        let b = new_id("2026-01-02T03:04:06Z".parse().expect("a time"));
        assert!(a < b);
        assert!(is_id(&a) && is_id(&b));
        assert!(a.starts_with("20260102T030405000Z-"));
        for bad in [
            "",
            "x",
            "20260102T030405Z-ABCD",
            "20260102T030405Z-abc",
            "../../etc/passwd",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn schema_newer_than_the_binary_is_seen() {
        let m = Manifest {
            format: FORMAT,
            id: "20260102T030405000Z-abcd".into(),
            trigger: "cli".into(),
            created_at: Utc::now(),
            finished_at: Utc::now(),
            switchboard_version: "0".into(),
            schema: Schema {
                latest: "m2".into(),
                migrations: vec!["m1".into(), "m2".into()],
            },
            database: DatabasePart {
                backend: "sqlite".into(),
                name: "database.sqlite".into(),
                size: 1,
                sha256: "0".repeat(64),
            },
            last_seq: 0,
            epoch: "e".into(),
            objects: vec![],
            stats: Stats::default(),
        };
        assert!(m.unknown_migrations(&["m1".into(), "m2".into()]).is_empty());
        assert_eq!(m.unknown_migrations(&["m1".into()]), vec!["m2".to_owned()]);
        let text = serde_json::to_vec(&m).expect("serialises");
        assert!(Manifest::parse(&text).is_ok());
        let mut wrong = m.clone();
        wrong.format = 99;
        assert!(Manifest::parse(&serde_json::to_vec(&wrong).expect("serialises")).is_err());
    }
}
