//! Taking one backup: the snapshot, the objects it references (only those no earlier backup in
//! the same location holds), then the manifest — written last, in one put, so a backup that
//! stopped anywhere before it (kill -9, a full disk) is never listed (docs/API.md §8.2).

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt;

use super::{
    manifest::{self, DatabasePart, Manifest, ObjectEntry, Schema, Stats},
    snapshot,
};
use crate::{
    db::Db,
    error::{Error, Result},
    storage::Storage,
};

/// Objects copied at once.
const COPY_CONCURRENCY: usize = 4;

/// What a backup reads from and writes to.
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub database_url: String,
    /// The file store.
    pub live: Storage,
    /// The backup location.
    pub target: Storage,
    /// Where the snapshot is staged before it is uploaded.
    pub tmp: PathBuf,
    /// `--backup-max-bytes-per-sec` (0: no limit).
    pub max_bytes_per_sec: u64,
}

/// Where a running backup is.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub phase: &'static str,
    pub last_seq: Option<i64>,
    pub schema_version: Option<String>,
    pub objects_total: u64,
    pub objects_done: u64,
    pub objects_copied: u64,
    pub objects_reused: u64,
    pub bytes_copied: u64,
}

pub fn backup_prefix(id: &str) -> String {
    format!("backups/{id}")
}

pub fn manifest_key(id: &str) -> String {
    format!("backups/{id}/manifest.json")
}

/// Takes backup `id`; `report` is called as it advances.
pub async fn create(
    ctx: &Context,
    id: &str,
    trigger: &str,
    created_at: chrono::DateTime<chrono::Utc>,
    report: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Manifest> {
    let mut progress = Progress {
        phase: "database",
        ..Progress::default()
    };
    report(&progress);
    // Before the snapshot: an object deleted after it must still be there to copy.
    let _hold = ctx.live.hold_deletions();
    let snap = snapshot::take(&ctx.db, &ctx.database_url, &ctx.tmp, id).await?;
    let uploaded = ctx
        .target
        .put_file(
            &format!("{}/{}", backup_prefix(id), snap.file_name),
            &snap.path,
        )
        .await;
    let _ = tokio::fs::remove_file(&snap.path).await;
    let (db_size, db_sha) = uploaded?;
    progress.phase = "objects";
    progress.last_seq = Some(snap.last_seq);
    progress.schema_version = snap.migrations.last().cloned();
    progress.objects_total = snap.objects.len() as u64;
    report(&progress);

    let stats = copy_objects(ctx, &snap.objects, &progress, report).await?;
    progress.phase = "manifest";
    progress.objects_done = progress.objects_total;
    progress.objects_copied = stats.objects_copied;
    progress.objects_reused = stats.objects_reused;
    progress.bytes_copied = stats.bytes_copied;
    report(&progress);

    let manifest = Manifest {
        format: manifest::FORMAT,
        id: id.to_owned(),
        trigger: trigger.to_owned(),
        created_at,
        finished_at: chrono::Utc::now(),
        switchboard_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema: Schema {
            latest: snap.migrations.last().cloned().unwrap_or_default(),
            migrations: snap.migrations,
        },
        database: DatabasePart {
            backend: snap.backend.to_owned(),
            name: snap.file_name.to_owned(),
            size: db_size,
            sha256: db_sha,
        },
        last_seq: snap.last_seq,
        epoch: snap.epoch,
        objects: snap.objects,
        stats,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
    ctx.target
        .put_bytes(&manifest_key(id), Bytes::from(text))
        .await?;
    Ok(manifest)
}

/// Copies every object the target does not hold yet, checking each against its sha256.
async fn copy_objects(
    ctx: &Context,
    objects: &[ObjectEntry],
    progress: &Progress,
    report: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Stats> {
    let limiter = RateLimit::new(ctx.max_bytes_per_sec);
    // Two files with the same bytes share one object.
    let mut seen = HashSet::new();
    let distinct: Vec<ObjectEntry> = objects
        .iter()
        .filter(|o| seen.insert(o.sha256.clone()))
        .cloned()
        .collect();
    let duplicates = (objects.len() - distinct.len()) as u64;
    let mut p = progress.clone();
    p.objects_done = duplicates;
    p.objects_reused = duplicates;
    let mut copies = futures_util::stream::iter(distinct)
        .map(|o| copy_one(ctx, o, &limiter))
        .buffer_unordered(COPY_CONCURRENCY);
    let mut last_report = Instant::now();
    while let Some(copied) = copies.next().await {
        match copied? {
            Some(size) => {
                p.objects_copied += 1;
                p.bytes_copied += size;
            }
            None => p.objects_reused += 1,
        }
        p.objects_done += 1;
        if last_report.elapsed() >= Duration::from_millis(250) {
            last_report = Instant::now();
            report(&p);
        }
    }
    Ok(Stats {
        objects_copied: p.objects_copied,
        objects_reused: p.objects_reused,
        bytes_copied: p.bytes_copied,
    })
}

/// Copies one object unless the target has it: `Some(bytes)` copied, `None` already there.
async fn copy_one(ctx: &Context, o: ObjectEntry, limiter: &RateLimit) -> Result<Option<u64>> {
    let key = manifest::object_key(&o.sha256);
    if ctx.target.head(&key).await? == Some(o.size) {
        return Ok(None);
    }
    let mut body = ctx
        .live
        .open(&o.storage_key, 0..o.size)
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "the object of file {} cannot be read: {e}",
                o.file_id
            ))
        })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    let feed = async move {
        while let Some(chunk) = body.next().await {
            if let Ok(c) = &chunk {
                limiter.take(c.len() as u64).await;
            }
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    };
    let put = ctx.target.put_stream(&key, tokio_stream_from(rx));
    let ((), stored) = tokio::join!(feed, put);
    let (size, sha) = stored?;
    if size != o.size || sha != o.sha256 {
        let _ = ctx.target.delete(&key).await;
        return Err(Error::Internal(format!(
            "the object of file {} does not match its sha256 (stored bytes damaged)",
            o.file_id
        )));
    }
    Ok(Some(size))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A plain byte-rate limit shared by the copies of one backup.
struct RateLimit {
    per_sec: u64,
    start: Instant,
    taken: AtomicU64,
}

impl RateLimit {
    fn new(per_sec: u64) -> Self {
        Self {
            per_sec,
            start: Instant::now(),
            taken: AtomicU64::new(0),
        }
    }

    /// Waits until `n` more bytes fit under the rate.
    async fn take(&self, n: u64) {
        if self.per_sec == 0 {
            return;
        }
        let total = self.taken.fetch_add(n, Ordering::Relaxed) + n;
        let due = Duration::from_secs_f64(total as f64 / self.per_sec as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}
