//! Backups of this deployment (docs/API.md §8): one at a time per process, listed from the
//! manifests in the backup location plus the runs of this process (running, or failed with
//! their error), announced live (`backup.started`, `backup.progress`) and in the log
//! (`backup.completed`, `backup.failed`, `backup.deleted`), counted in `/metrics`, and on a
//! schedule with retention.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::{
    create::{self, Context, Progress},
    dto::Backup,
    manifest::{self, Manifest},
};
use crate::{
    error::{Error, Result},
    metrics,
    realtime::event::{Actor, EventType},
    storage::Storage,
    write::Writer,
};

/// Incomplete backups (no manifest) this old are debris of a run that died; younger ones may be
/// another process's backup in progress.
const DEBRIS_AGE: chrono::Duration = chrono::Duration::hours(24);

#[derive(Clone)]
pub struct Backups(Arc<Inner>);

struct Inner {
    ctx: Context,
    writer: Writer,
    /// Held for the whole of a backup, a delete or a retention pass.
    busy: Arc<AsyncMutex<()>>,
    /// This process's runs not (yet) complete: running, or failed.
    runs: Mutex<BTreeMap<String, Backup>>,
    /// Complete backups read from their manifests (immutable, so cached by id).
    complete: Mutex<HashMap<String, Backup>>,
}

impl Backups {
    pub fn new(ctx: Context, writer: Writer) -> Self {
        Self(Arc::new(Inner {
            ctx,
            writer,
            busy: Arc::new(AsyncMutex::new(())),
            runs: Mutex::default(),
            complete: Mutex::default(),
        }))
    }

    /// Where backups go, for logs.
    pub fn location(&self) -> &str {
        self.0.ctx.target.description()
    }

    /// Starts a backup in the background; 409 while one is running.
    pub fn start(&self, trigger: &'static str, actor: Option<Actor>) -> Result<Backup> {
        let guard = self.try_busy()?;
        let info = self.register(trigger);
        let this = self.clone();
        let id = info.id.clone();
        tokio::spawn(async move { this.run(guard, id, trigger, actor).await });
        Ok(info)
    }

    /// Takes a backup and waits for it (the CLI, the schedule).
    pub async fn create_now(&self, trigger: &'static str) -> Backup {
        let guard = self.0.busy.clone().lock_owned().await;
        let info = self.register(trigger);
        self.run(guard, info.id, trigger, None).await
    }

    fn try_busy(&self) -> Result<OwnedMutexGuard<()>> {
        self.0.busy.clone().try_lock_owned().map_err(|_| {
            Error::conflict(
                "backup_running",
                "a backup is running; wait for it to finish",
            )
        })
    }

    fn register(&self, trigger: &'static str) -> Backup {
        let now = chrono::Utc::now();
        let info = Backup::running(manifest::new_id(now), trigger, now, self.backend());
        self.lock_runs().insert(info.id.clone(), info.clone());
        info
    }

    fn backend(&self) -> &'static str {
        match self.0.ctx.db.backend() {
            sea_orm::DbBackend::Postgres => "postgres",
            _ => "sqlite",
        }
    }

    fn lock_runs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Backup>> {
        self.0.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_complete(&self) -> std::sync::MutexGuard<'_, HashMap<String, Backup>> {
        self.0.complete.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(
        &self,
        _busy: OwnedMutexGuard<()>,
        id: String,
        trigger: &'static str,
        actor: Option<Actor>,
    ) -> Backup {
        let started = Instant::now();
        let created_at = self
            .lock_runs()
            .get(&id)
            .map(|b| b.created_at)
            .unwrap_or_else(chrono::Utc::now);
        if let Some(info) = self.lock_runs().get(&id) {
            self.publish(EventType::BackupStarted, actor.as_ref(), info);
        }
        if let Err(e) = self.clear_debris().await {
            tracing::warn!(error = %e, "could not remove the debris of interrupted backups");
        }
        let report = |p: &Progress| {
            let snapshot = {
                let mut runs = self.lock_runs();
                let Some(info) = runs.get_mut(&id) else {
                    return;
                };
                apply(info, p);
                info.clone()
            };
            self.publish(EventType::BackupProgress, actor.as_ref(), &snapshot);
        };
        let outcome = create::create(&self.0.ctx, &id, trigger, created_at, &report).await;
        let elapsed = started.elapsed();
        match outcome {
            Ok(manifest) => {
                let info = Backup::from_manifest(&manifest);
                self.lock_complete().insert(id.clone(), info.clone());
                self.lock_runs().remove(&id);
                tracing::info!(
                    backup = %id, trigger, last_seq = manifest.last_seq,
                    objects = manifest.objects.len(), copied = manifest.stats.objects_copied,
                    bytes_copied = manifest.stats.bytes_copied, size_bytes = info.size_bytes,
                    duration_ms = elapsed.as_millis() as u64, location = self.location(),
                    "backup completed"
                );
                metrics::backup_finished(trigger, true, elapsed);
                self.record(EventType::BackupCompleted, actor.as_ref(), json!(info))
                    .await;
                info
            }
            Err(e) => {
                let info = {
                    let mut runs = self.lock_runs();
                    let info = runs.entry(id.clone()).or_insert_with(|| {
                        Backup::running(id.clone(), trigger, created_at, self.backend())
                    });
                    info.status = "failed".into();
                    info.finished_at = Some(chrono::Utc::now());
                    info.error = Some(e.to_string());
                    info.clone()
                };
                tracing::error!(
                    backup = %id, trigger, error = %e, duration_ms = elapsed.as_millis() as u64,
                    location = self.location(), "backup failed"
                );
                metrics::backup_finished(trigger, false, elapsed);
                // Leave nothing half-written behind (a manifest is never there: it is last).
                let _ = self
                    .0
                    .ctx
                    .target
                    .delete_prefix(&create::backup_prefix(&id))
                    .await;
                self.record(EventType::BackupFailed, actor.as_ref(), json!(info))
                    .await;
                info
            }
        }
    }

    fn publish(&self, kind: EventType, actor: Option<&Actor>, info: &Backup) {
        self.0.writer.realtime().publish(kind, actor, &json!(info));
    }

    /// A durable event of its own write.
    async fn record(&self, kind: EventType, actor: Option<&Actor>, data: serde_json::Value) {
        let result = async {
            let mut w = self.0.writer.begin().await?;
            w.event(kind, actor, data);
            w.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, event = kind.as_str(), "could not log a backup event");
        }
    }

    /// Every backup: complete ones from the location, plus this process's running and failed
    /// runs; newest first.
    pub async fn list(&self) -> Result<Vec<Backup>> {
        let ids = self.complete_ids().await?;
        let mut items: BTreeMap<String, Backup> = BTreeMap::new();
        for id in ids {
            if let Some(info) = self.lock_complete().get(&id).cloned() {
                items.insert(id, info);
                continue;
            }
            match self.manifest(&id).await {
                Ok(m) => {
                    let info = Backup::from_manifest(&m);
                    self.lock_complete().insert(id.clone(), info.clone());
                    items.insert(id, info);
                }
                Err(e) => tracing::warn!(backup = %id, error = %e, "unreadable backup manifest"),
            }
        }
        for (id, run) in self.lock_runs().iter() {
            items.entry(id.clone()).or_insert_with(|| run.clone());
        }
        Ok(items.into_values().rev().collect())
    }

    pub async fn get(&self, id: &str) -> Result<Backup> {
        if let Some(run) = self.lock_runs().get(id).cloned() {
            return Ok(run);
        }
        Ok(Backup::from_manifest(&self.manifest(id).await?))
    }

    /// A complete backup's manifest; 404 for anything else.
    pub async fn manifest(&self, id: &str) -> Result<Manifest> {
        if !manifest::is_id(id) {
            return Err(Error::NotFound("backup"));
        }
        let bytes = match self.0.ctx.target.get_bytes(&create::manifest_key(id)).await {
            Ok(b) => b,
            Err(Error::NotFound(_)) => return Err(Error::NotFound("backup")),
            Err(e) => return Err(e),
        };
        Manifest::parse(&bytes)
    }

    /// The backup location's store (downloads read from it).
    pub fn target(&self) -> &Storage {
        &self.0.ctx.target
    }

    /// Ids with a manifest in the location.
    async fn complete_ids(&self) -> Result<Vec<String>> {
        let objects = self.0.ctx.target.list("backups").await?;
        Ok(objects
            .iter()
            .filter_map(|o| {
                let rest = o.key.strip_prefix("backups/")?;
                let id = rest.strip_suffix("/manifest.json")?;
                manifest::is_id(id).then(|| id.to_owned())
            })
            .collect())
    }

    /// Deletes a backup (a complete one, or the record of a failed run) and then every object
    /// no remaining backup needs; 409 while a backup runs.
    pub async fn delete(&self, id: &str, actor: Option<&Actor>) -> Result<()> {
        let _busy = self.try_busy()?;
        let failed_run = self.lock_runs().remove(id).is_some();
        if !failed_run {
            self.manifest(id).await?;
        }
        // The manifest first: from then on the backup is not listed, whatever happens next.
        self.0.ctx.target.delete(&create::manifest_key(id)).await?;
        self.lock_complete().remove(id);
        self.0
            .ctx
            .target
            .delete_prefix(&create::backup_prefix(id))
            .await?;
        let removed = self.collect_garbage().await?;
        tracing::info!(backup = %id, objects_removed = removed, "backup deleted");
        self.record(EventType::BackupDeleted, actor, json!({"id": id}))
            .await;
        Ok(())
    }

    /// Keeps the newest `keep` complete backups; returns how many were deleted.
    pub async fn apply_retention(&self, keep: usize) -> Result<usize> {
        if keep == 0 {
            return Ok(0);
        }
        let mut ids = self.complete_ids().await?;
        ids.sort();
        let excess = ids.len().saturating_sub(keep);
        for id in ids.iter().take(excess) {
            self.delete(id, None).await?;
        }
        Ok(excess)
    }

    /// Objects of the location that no manifest lists. Runs while `busy` is held.
    async fn collect_garbage(&self) -> Result<usize> {
        let mut needed = HashSet::new();
        for id in self.complete_ids().await? {
            for o in self.manifest(&id).await?.objects {
                needed.insert(manifest::object_key(&o.sha256));
            }
        }
        let mut removed = 0;
        for o in self.0.ctx.target.list("objects").await? {
            if !needed.contains(&o.key) {
                self.0.ctx.target.delete(&o.key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes what backups that died left behind (no manifest, older than a day).
    async fn clear_debris(&self) -> Result<()> {
        let complete: HashSet<String> = self.complete_ids().await?.into_iter().collect();
        let cutoff = chrono::Utc::now() - DEBRIS_AGE;
        let running: HashSet<String> = self.lock_runs().keys().cloned().collect();
        let mut stale = HashSet::new();
        for o in self.0.ctx.target.list("backups").await? {
            let Some(id) = o
                .key
                .strip_prefix("backups/")
                .and_then(|r| r.split('/').next())
            else {
                continue;
            };
            if !complete.contains(id) && !running.contains(id) && o.last_modified < cutoff {
                stale.insert(id.to_owned());
            }
        }
        for id in stale {
            self.0
                .ctx
                .target
                .delete_prefix(&create::backup_prefix(&id))
                .await?;
        }
        Ok(())
    }

    /// Runs a backup every `every`, counted from the newest complete one, then applies `keep`.
    pub fn spawn_schedule(&self, every: Duration, keep: usize) {
        let this = self.clone();
        tokio::spawn(async move {
            let newest = match this.list().await {
                Ok(items) => items
                    .iter()
                    .filter(|b| b.status == "completed")
                    .map(|b| b.created_at)
                    .max(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list backups; the schedule starts now");
                    None
                }
            };
            let every_c = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::days(1));
            let mut next = newest.map_or_else(chrono::Utc::now, |t| t + every_c);
            loop {
                let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let info = this.create_now("schedule").await;
                if info.status == "completed" && keep > 0 {
                    match this.apply_retention(keep).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, keep, "old backups deleted"),
                        Err(e) => tracing::warn!(error = %e, "backup retention failed"),
                    }
                }
                next = chrono::Utc::now() + every_c;
            }
        });
    }
}

fn apply(info: &mut Backup, p: &Progress) {
    info.phase = p.phase.into();
    info.last_seq = p.last_seq;
    info.schema_version = p.schema_version.clone();
    info.objects_total = p.objects_total;
    info.objects_done = p.objects_done;
    info.objects_copied = p.objects_copied;
    info.objects_reused = p.objects_reused;
    info.bytes_copied = p.bytes_copied;
}
