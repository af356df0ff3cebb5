//! URL import tasks (docs/API.md §5.6): the only code that writes the `tasks` table, and what
//! every import shares (the HTTP client with the address policy, the concurrency permits). The
//! life of one task is in `import`.
//!
//! Tasks live in the database, so every instance of a deployment lists, cancels and retries all
//! of them. The instance that accepted a task runs it and is the only one writing its progress:
//! a background loop of each instance
//!
//! - every [`TICK`] reads the rows of the tasks it runs and stops those cancelled (or found
//!   interrupted) elsewhere: a cancel through any instance is a plain conditional `UPDATE`, and
//!   the owner sees it within a tick. Polling the row, rather than a cluster notification, works
//!   the same on SQLite and PostgreSQL and cannot lose a cancel the way a missed notification
//!   would; it costs one small query per tick, and only while the instance runs imports;
//! - every [`HEARTBEAT_EVERY`] writes their `bytes_received` (if it changed) and `heartbeat_at`;
//! - every [`SWEEP_EVERY`] marks tasks whose heartbeat is older than the stale window
//!   (`--task-stale-secs`) `interrupted` — their instance died — and deletes finished tasks after
//!   [`FINISHED_TTL`], keeping at most [`MAX_FINISHED`].
//!
//! Reads apply the stale rule themselves, so a dead instance's task is shown `interrupted` as
//! soon as its heartbeat is stale, whichever instance answers and whenever the sweep runs. On
//! SQLite there is only ever one instance, so every task left queued or running at start is
//! interrupted there and then.
//!
//! Status changes are conditional updates (`… WHERE status IN ('queued','running')`), which
//! makes them atomic across instances: a cancel answered 204 always wins over the owner's later
//! outcome, and once the owner has marked the row `storing` no cancel can succeed.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::task;
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, Query},
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::ssrf;
use crate::{
    error::{Error, Result},
    pagination::PageParams,
    write::Writer,
};

/// How long a finished task stays listed.
pub const FINISHED_TTL: Duration = Duration::from_secs(10 * 60);

/// Finished tasks kept at most (the oldest go first), so a burst of imports cannot grow the table.
pub const MAX_FINISHED: u64 = 200;

/// How often the owner checks its tasks' rows for a cancel from elsewhere.
const TICK: Duration = Duration::from_millis(500);
/// Progress and heartbeat writes, in ticks (once per second: a bounded write rate per task).
const HEARTBEAT_EVERY: u32 = 2;
/// Sweeps, in ticks.
const SWEEP_EVERY: u32 = 10;

/// An upstream that accepts no connection within this long is not going to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// An upstream silent this long mid-body has stalled; without this a stalled fetch would hold
/// its permit until the overall timeout.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Shown as the `error` of an interrupted task.
const INTERRUPTED: &str = "the server running the import stopped before it finished";

/// The statuses of a task that is not over.
const ACTIVE: [&str; 2] = ["queued", "running"];

/// Only kind so far.
const KIND_IMPORT: &str = "import";

/// The `--import-*` settings and `--task-stale-secs`.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub allow_private: bool,
    pub concurrency: usize,
    pub max_redirects: usize,
    pub timeout: Duration,
    pub stale: Duration,
}

/// The task service and what every import shares: the HTTP client and the permits.
pub struct Imports {
    pub(super) allow_private: bool,
    pub(super) timeout: Duration,
    pub(super) client: reqwest::Client,
    pub(super) permits: Semaphore,
    book: Arc<Book>,
}

/// The `tasks` table as this instance writes it, and the tasks it runs.
struct Book {
    writer: Writer,
    /// This process's id: the `instance` of the tasks it accepts.
    instance: String,
    stale: TimeDelta,
    running: Mutex<HashMap<String, Arc<Local>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            // Only this service writes the column; anything else cannot be running.
            _ => Self::Interrupted,
        }
    }

    fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// A task as clients see it.
#[derive(Debug, Clone)]
pub struct TaskSnapshot {
    pub task_id: String,
    pub status: Status,
    pub url: String,
    pub name: Option<String>,
    pub file_id: String,
    pub bytes_received: u64,
    pub bytes_total: Option<u64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub instance: String,
    pub retry_of: Option<String>,
}

/// A task to record, validated by `import`.
pub(super) struct NewTask {
    pub(super) source_url: String,
    pub(super) shown_url: String,
    pub(super) name: Option<String>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) max_downloads: Option<i64>,
    pub(super) created_by: String,
    pub(super) retry_of: Option<String>,
}

/// What a retry imports again: the task's URL as requested, its name and the file's limits.
pub struct RetrySource {
    pub url: String,
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<i64>,
}

/// A task this instance runs.
pub(super) struct Local {
    pub(super) id: String,
    pub(super) file_id: String,
    pub(super) cancel: CancellationToken,
    /// Updated per chunk without a lock; written to the row by the heartbeat.
    pub(super) bytes_received: AtomicU64,
    /// What the row last got.
    written: AtomicU64,
}

/// Holds a task in this instance's registry while it runs; dropping it ends the heartbeat, so
/// a runner that vanished without finishing its row leaves a task that goes stale.
pub(super) struct Running {
    pub(super) local: Arc<Local>,
    book: Arc<Book>,
}

impl Drop for Running {
    fn drop(&mut self) {
        lock(&self.book.running).remove(&self.local.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map stays consistent across a panic (single inserts and removes).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn active() -> sea_orm::sea_query::SimpleExpr {
    task::Column::Status.is_in(ACTIVE)
}

impl Imports {
    /// Builds the client, recovers the tasks a previous process left (SQLite) and starts this
    /// instance's background loop.
    pub async fn start(config: ImportConfig, writer: Writer) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            // An environment proxy would resolve and connect for us, bypassing the policy.
            .no_proxy()
            .redirect(ssrf::redirect_policy(
                config.max_redirects,
                config.allow_private,
            ))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private {
            builder = builder.dns_resolver(Arc::new(ssrf::PublicOnlyResolver));
        }
        let client = builder
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the import HTTP client: {e}")))?;
        let book = Arc::new(Book {
            writer,
            instance: uuid::Uuid::new_v4().to_string(),
            stale: TimeDelta::from_std(config.stale).unwrap_or(TimeDelta::MAX),
            running: Mutex::new(HashMap::new()),
        });
        let recovered = if book.writer.db().backend() == DbBackend::Sqlite {
            // The only instance there is: nothing it did not start now can be running.
            book.interrupt(Condition::all()).await?
        } else {
            book.interrupt(book.stale_rows(Utc::now())).await?
        };
        if recovered > 0 {
            tracing::info!(
                tasks = recovered,
                "marked imports of a stopped server interrupted"
            );
        }
        tokio::spawn(background(book.clone()));
        Ok(Self {
            allow_private: config.allow_private,
            timeout: config.timeout,
            client,
            permits: Semaphore::new(config.concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            book,
        })
    }

    /// Every instance's tasks, newest first.
    pub async fn list(&self, page: PageParams) -> Result<(Vec<TaskSnapshot>, u64)> {
        let now = Utc::now();
        let conn = self.book.writer.db().conn();
        let query = task::Entity::find().filter(listed(now));
        let total = query.clone().count(conn).await?;
        let rows = query
            .order_by_desc(task::Column::CreatedAt)
            .order_by_desc(task::Column::Id)
            .offset(page.offset())
            .limit(page.per_page)
            .all(conn)
            .await?;
        let items = rows
            .into_iter()
            .map(|row| self.book.snapshot(row, now))
            .collect();
        Ok((items, total))
    }

    pub async fn get(&self, id: &str) -> Result<TaskSnapshot> {
        let now = Utc::now();
        let row = self.book.find(id, now).await?;
        Ok(self.book.snapshot(row, now))
    }

    /// Cancels a queued or running task, on whichever instance runs it: its fetch stops within
    /// a [`TICK`], `download.aborted` is published if it had started, and the file never
    /// appears. Cancelling a cancelled task is a no-op; a task that completed, failed or was
    /// interrupted (or is already storing its finished download) cannot be cancelled: 409
    /// `task_finished`.
    pub async fn cancel(&self, id: &str) -> Result<()> {
        let now = Utc::now();
        let book = &self.book;
        let tx = book.writer.begin().await?;
        let cancelled = task::Entity::update_many()
            .col_expr(
                task::Column::Status,
                Expr::value(Status::Cancelled.as_str()),
            )
            .col_expr(task::Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(id))
            .filter(active())
            .filter(task::Column::Storing.eq(false))
            .filter(task::Column::HeartbeatAt.gte(now - book.stale))
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        if cancelled.rows_affected > 0 {
            // The owner's loop would see it within a tick; here there is no need to wait.
            if let Some(local) = lock(&book.running).get(id) {
                local.cancel.cancel();
            }
            return Ok(());
        }
        let row = book.find(id, now).await?;
        let snapshot = book.snapshot(row.clone(), now);
        match snapshot.status {
            Status::Cancelled => Ok(()),
            Status::Queued | Status::Running if row.storing => Err(Error::conflict(
                "task_finished",
                "the import has been downloaded and is being stored",
            )),
            Status::Queued | Status::Running => Err(Error::conflict(
                "task_finished",
                "the import changed meanwhile; read it again",
            )),
            Status::Interrupted => {
                book.interrupt(Condition::all().add(task::Column::Id.eq(id)))
                    .await?;
                Err(finished(snapshot.status))
            }
            Status::Completed | Status::Failed => Err(finished(snapshot.status)),
        }
    }

    /// What a retry of `id` imports; 409 `task_not_retryable` unless the task failed, was
    /// cancelled or was interrupted. An interrupted task is recorded as such first, so its
    /// instance, should it still be alive, stops it.
    pub async fn retry_source(&self, id: &str) -> Result<RetrySource> {
        let now = Utc::now();
        let row = self.book.find(id, now).await?;
        let status = self.book.snapshot(row.clone(), now).status;
        match status {
            Status::Failed | Status::Cancelled => {}
            Status::Interrupted => {
                self.book
                    .interrupt(Condition::all().add(task::Column::Id.eq(id)))
                    .await?;
            }
            Status::Queued | Status::Running | Status::Completed => {
                return Err(Error::conflict(
                    "task_not_retryable",
                    format!(
                        "only a failed, cancelled or interrupted task can be retried; this one is {}",
                        status.as_str()
                    ),
                ));
            }
        }
        Ok(RetrySource {
            url: row.source_url,
            name: row.name,
            expires_at: row.expires_at,
            max_downloads: row.max_downloads,
        })
    }

    /// Records a queued task owned by this instance and registers it here.
    pub(super) async fn insert(&self, new: NewTask) -> Result<(TaskSnapshot, Running)> {
        let now = Utc::now();
        let row = task::Model {
            id: uuid::Uuid::now_v7().to_string(),
            kind: KIND_IMPORT.to_owned(),
            status: Status::Queued.as_str().to_owned(),
            url: new.shown_url,
            source_url: new.source_url,
            name: new.name,
            file_id: uuid::Uuid::now_v7().to_string(),
            bytes_received: 0,
            bytes_total: None,
            error: None,
            expires_at: new.expires_at,
            max_downloads: new.max_downloads,
            retry_of: new.retry_of,
            instance: self.book.instance.clone(),
            storing: false,
            created_by: new.created_by,
            created_at: now,
            updated_at: now,
            heartbeat_at: now,
            finished_at: None,
        };
        let tx = self.book.writer.begin().await?;
        task::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row.clone()))
            .exec_without_returning(&*tx)
            .await?;
        tx.commit().await?;
        let local = Arc::new(Local {
            id: row.id.clone(),
            file_id: row.file_id.clone(),
            cancel: CancellationToken::new(),
            bytes_received: AtomicU64::new(0),
            written: AtomicU64::new(0),
        });
        lock(&self.book.running).insert(local.id.clone(), local.clone());
        let running = Running {
            local,
            book: self.book.clone(),
        };
        Ok((self.book.snapshot(row, now), running))
    }

    /// Queued → running; `false` if the task was cancelled or interrupted meanwhile.
    pub(super) async fn mark_running(&self, task: &Local) -> Result<bool> {
        let now = Utc::now();
        self.book
            .update(
                task,
                Condition::all().add(task::Column::Status.eq(Status::Queued.as_str())),
                |u| {
                    u.col_expr(task::Column::Status, Expr::value(Status::Running.as_str()))
                        .col_expr(task::Column::HeartbeatAt, Expr::value(now))
                        .col_expr(task::Column::UpdatedAt, Expr::value(now))
                },
            )
            .await
    }

    /// The upstream answered: the name and declared length are known.
    pub(super) async fn response_arrived(
        &self,
        task: &Local,
        name: &str,
        bytes_total: Option<u64>,
    ) -> Result<()> {
        let now = Utc::now();
        self.book
            .update(task, Condition::all().add(active()), |u| {
                u.col_expr(task::Column::Name, Expr::value(name))
                    .col_expr(
                        task::Column::BytesTotal,
                        Expr::value(bytes_total.map(to_i64)),
                    )
                    .col_expr(task::Column::UpdatedAt, Expr::value(now))
            })
            .await?;
        Ok(())
    }

    /// From here on the task cannot be cancelled; `false` if it already was (or was
    /// interrupted).
    pub(super) async fn begin_storing(&self, task: &Local) -> Result<bool> {
        if task.cancel.is_cancelled() {
            return Ok(false);
        }
        let now = Utc::now();
        let bytes = task.bytes_received.load(Ordering::Relaxed);
        self.book
            .update(
                task,
                Condition::all().add(task::Column::Status.eq(Status::Running.as_str())),
                |u| {
                    u.col_expr(task::Column::Storing, Expr::value(true))
                        .col_expr(task::Column::BytesReceived, Expr::value(to_i64(bytes)))
                        .col_expr(task::Column::HeartbeatAt, Expr::value(now))
                        .col_expr(task::Column::UpdatedAt, Expr::value(now))
                },
            )
            .await
    }

    /// Records the outcome. A cancel (or an interruption) recorded earlier stands, except that
    /// a task that was storing and did complete is completed: its file exists.
    pub(super) async fn finish(&self, task: &Local, status: Status, error: Option<String>) {
        let now = Utc::now();
        let bytes = task.bytes_received.load(Ordering::Relaxed);
        let applies = if status == Status::Completed {
            Condition::any()
                .add(task::Column::Status.eq(Status::Running.as_str()))
                .add(
                    Condition::all()
                        .add(task::Column::Status.eq(Status::Interrupted.as_str()))
                        .add(task::Column::Storing.eq(true)),
                )
        } else {
            Condition::all().add(active())
        };
        let result = self
            .book
            .update(task, applies, |u| {
                u.col_expr(task::Column::Status, Expr::value(status.as_str()))
                    .col_expr(task::Column::Error, Expr::value(error.clone()))
                    .col_expr(task::Column::BytesReceived, Expr::value(to_i64(bytes)))
                    .col_expr(task::Column::Storing, Expr::value(false))
                    .col_expr(task::Column::FinishedAt, Expr::value(Some(now)))
                    .col_expr(task::Column::UpdatedAt, Expr::value(now))
            })
            .await;
        if let Err(e) = result {
            // The heartbeat stops with the runner, so the task will show as interrupted.
            tracing::error!(error = %e, task = %task.id, "could not record the end of an import");
        }
    }
}

impl Book {
    async fn find(&self, id: &str, now: DateTime<Utc>) -> Result<task::Model> {
        task::Entity::find_by_id(id)
            .filter(listed(now))
            .one(self.writer.db().conn())
            .await?
            .ok_or(Error::NotFound("task"))
    }

    /// The row as clients see it: a queued or running task whose heartbeat is stale is
    /// interrupted, whether or not a sweep has recorded it yet.
    fn snapshot(&self, row: task::Model, now: DateTime<Utc>) -> TaskSnapshot {
        let mut status = Status::parse(&row.status);
        let mut error = row.error;
        if status.is_active() && row.heartbeat_at < now - self.stale {
            status = Status::Interrupted;
            error = Some(INTERRUPTED.to_owned());
        }
        TaskSnapshot {
            task_id: row.id,
            status,
            url: row.url,
            name: row.name,
            file_id: row.file_id,
            bytes_received: to_u64(row.bytes_received),
            bytes_total: row.bytes_total.map(to_u64),
            error,
            created_at: row.created_at,
            created_by: row.created_by,
            updated_at: row.updated_at,
            instance: row.instance,
            retry_of: row.retry_of,
        }
    }

    /// Queued or running tasks whose instance stopped renewing them.
    fn stale_rows(&self, now: DateTime<Utc>) -> Condition {
        Condition::all().add(task::Column::HeartbeatAt.lt(now - self.stale))
    }

    /// Marks the active tasks matching `which` interrupted; returns how many.
    async fn interrupt(&self, which: Condition) -> Result<u64> {
        let now = Utc::now();
        let tx = self.writer.begin().await?;
        let done = task::Entity::update_many()
            .col_expr(
                task::Column::Status,
                Expr::value(Status::Interrupted.as_str()),
            )
            .col_expr(task::Column::Error, Expr::value(INTERRUPTED))
            .col_expr(task::Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(active())
            .filter(which)
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected)
    }

    /// A conditional update of one task this instance runs; `true` if the row matched.
    async fn update(
        &self,
        task: &Local,
        condition: Condition,
        set: impl FnOnce(sea_orm::UpdateMany<task::Entity>) -> sea_orm::UpdateMany<task::Entity>,
    ) -> Result<bool> {
        let tx = self.writer.begin().await?;
        let done = set(task::Entity::update_many())
            .filter(task::Column::Id.eq(task.id.as_str()))
            .filter(task::Column::Instance.eq(self.instance.as_str()))
            .filter(condition)
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected > 0)
    }

    fn locals(&self) -> Vec<Arc<Local>> {
        lock(&self.running).values().cloned().collect()
    }

    /// Stops the local tasks whose row is no longer queued or running: cancelled or
    /// interrupted through another instance (or gone).
    async fn stop_cancelled(&self, locals: &[Arc<Local>]) -> Result<()> {
        let ids: Vec<&str> = locals.iter().map(|l| l.id.as_str()).collect();
        let live: Vec<String> = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .filter(task::Column::Id.is_in(ids))
            .filter(active())
            .into_tuple()
            .all(self.writer.db().conn())
            .await?;
        for local in locals {
            if !live.contains(&local.id) {
                local.cancel.cancel();
            }
        }
        Ok(())
    }

    /// Writes the progress of the local tasks that moved and renews all their heartbeats, in
    /// one transaction.
    async fn heartbeat(&self, locals: &[Arc<Local>]) -> Result<()> {
        let now = Utc::now();
        let tx = self.writer.begin().await?;
        for local in locals {
            let bytes = local.bytes_received.load(Ordering::Relaxed);
            if local.written.load(Ordering::Relaxed) == bytes {
                continue;
            }
            task::Entity::update_many()
                .col_expr(task::Column::BytesReceived, Expr::value(to_i64(bytes)))
                .col_expr(task::Column::UpdatedAt, Expr::value(now))
                .filter(task::Column::Id.eq(local.id.as_str()))
                .filter(active())
                .exec(&*tx)
                .await?;
            local.written.store(bytes, Ordering::Relaxed);
        }
        let ids: Vec<&str> = locals.iter().map(|l| l.id.as_str()).collect();
        task::Entity::update_many()
            .col_expr(task::Column::HeartbeatAt, Expr::value(now))
            .filter(task::Column::Id.is_in(ids))
            .filter(task::Column::Instance.eq(self.instance.as_str()))
            .filter(active())
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Interrupts stale tasks (any instance's) and deletes finished tasks past [`FINISHED_TTL`]
    /// or beyond the newest [`MAX_FINISHED`].
    async fn sweep(&self) -> Result<()> {
        let now = Utc::now();
        let interrupted = self.interrupt(self.stale_rows(now)).await?;
        if interrupted > 0 {
            tracing::warn!(
                tasks = interrupted,
                "imports interrupted: the server running them stopped"
            );
        }
        let ttl = TimeDelta::from_std(FINISHED_TTL).unwrap_or(TimeDelta::MAX);
        let newest = Query::select()
            .column(task::Column::Id)
            .from(task::Entity)
            .and_where(task::Column::FinishedAt.is_not_null())
            .order_by(task::Column::FinishedAt, sea_orm::Order::Desc)
            .limit(MAX_FINISHED)
            .to_owned();
        let tx = self.writer.begin().await?;
        task::Entity::delete_many()
            .filter(task::Column::FinishedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(task::Column::FinishedAt.lt(now - ttl))
                    .add(task::Column::Id.not_in_subquery(newest)),
            )
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The tasks still listed: every unfinished one, finished ones for [`FINISHED_TTL`] (exact even
/// between sweeps).
fn listed(now: DateTime<Utc>) -> Condition {
    let ttl = TimeDelta::from_std(FINISHED_TTL).unwrap_or(TimeDelta::MAX);
    Condition::any()
        .add(task::Column::FinishedAt.is_null())
        .add(task::Column::FinishedAt.gte(now - ttl))
}

fn finished(status: Status) -> Error {
    let what = match status {
        Status::Completed => "has already completed",
        Status::Interrupted => "was interrupted",
        _ => "has already failed",
    };
    Error::conflict("task_finished", format!("the import {what}"))
}

/// This instance's loop: cancels, heartbeats and progress, sweeps (see the module docs).
async fn background(book: Arc<Book>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    loop {
        tick.tick().await;
        n = n.wrapping_add(1);
        let locals = book.locals();
        if !locals.is_empty() {
            if let Err(e) = book.stop_cancelled(&locals).await {
                tracing::warn!(error = %e, "could not check imports for cancels");
            }
            if n.is_multiple_of(HEARTBEAT_EVERY)
                && let Err(e) = book.heartbeat(&locals).await
            {
                tracing::warn!(error = %e, "could not record the progress of imports");
            }
        }
        if n.is_multiple_of(SWEEP_EVERY)
            && let Err(e) = book.sweep().await
        {
            tracing::warn!(error = %e, "could not sweep tasks");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{auth::cache::PrincipalCache, db::Db, realtime::Realtime};

    async fn book(dir: &std::path::Path, stale: TimeDelta) -> Book {
        let url = format!("sqlite://{}?mode=rwc", dir.join("tasks.db").display());
        let db = Db::connect(&url, Some(2)).await.expect("connect");
        db.migrate().await.expect("migrate");
        Book {
            writer: Writer::new(
                db.clone(),
                Realtime::detached(db),
                PrincipalCache::new(false),
            ),
            instance: "me".into(),
            stale,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn row(id: &str, status: Status, finished: Option<DateTime<Utc>>) -> task::Model {
        let now = Utc::now();
        task::Model {
            id: id.into(),
            kind: KIND_IMPORT.into(),
            status: status.as_str().into(),
            url: "http://example.com/".into(),
            source_url: "http://example.com/".into(),
            name: None,
            file_id: format!("f-{id}"),
            bytes_received: 0,
            bytes_total: None,
            error: None,
            expires_at: None,
            max_downloads: None,
            retry_of: None,
            instance: "me".into(),
            storing: false,
            created_by: "u".into(),
            created_at: now,
            updated_at: now,
            heartbeat_at: now,
            finished_at: finished,
        }
    }

    async fn insert(book: &Book, rows: Vec<task::Model>) {
        let models: Vec<_> = rows
            .into_iter()
            .map(sea_orm::IntoActiveModel::into_active_model)
            .collect();
        task::Entity::insert_many(models)
            .exec_without_returning(book.writer.db().conn())
            .await
            .expect("insert");
    }

    async fn ids(book: &Book) -> Vec<String> {
        task::Entity::find()
            .order_by_asc(task::Column::Id)
            .all(book.writer.db().conn())
            .await
            .expect("read")
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    #[tokio::test]
    async fn the_sweep_keeps_active_and_recent_tasks_within_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = book(dir.path(), TimeDelta::seconds(15)).await;
        let now = Utc::now();
        let old = now - TimeDelta::from_std(FINISHED_TTL).expect("ttl") - TimeDelta::seconds(5);
        let mut rows = vec![
            row("a-running", Status::Running, None),
            row("a-old", Status::Completed, Some(old)),
        ];
        // MAX_FINISHED + 3 recent ones: the 3 oldest go.
        for i in 0..MAX_FINISHED + 3 {
            let at = now - TimeDelta::seconds(300) + TimeDelta::seconds(to_i64(i));
            rows.push(row(&format!("b-{i:04}"), Status::Failed, Some(at)));
        }
        insert(&book, rows).await;
        book.sweep().await.expect("sweep");
        let left = ids(&book).await;
        assert_eq!(left.len(), to_usize(MAX_FINISHED) + 1, "{left:?}");
        assert!(left.contains(&"a-running".to_owned()));
        assert!(!left.contains(&"a-old".to_owned()));
        for gone in ["b-0000", "b-0001", "b-0002"] {
            assert!(!left.contains(&gone.to_owned()), "{gone} should be swept");
        }
        assert!(left.contains(&"b-0003".to_owned()));
    }

    fn to_usize(n: u64) -> usize {
        usize::try_from(n).expect("small")
    }

    #[tokio::test]
    async fn a_stale_heartbeat_reads_and_sweeps_as_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = book(dir.path(), TimeDelta::seconds(15)).await;
        let mut stale = row("stale", Status::Running, None);
        stale.heartbeat_at = Utc::now() - TimeDelta::seconds(16);
        let fresh = row("fresh", Status::Queued, None);
        insert(&book, vec![stale.clone(), fresh.clone()]).await;

        let now = Utc::now();
        let shown = book.snapshot(stale, now);
        assert_eq!(shown.status, Status::Interrupted);
        assert_eq!(shown.error.as_deref(), Some(INTERRUPTED));
        assert_eq!(book.snapshot(fresh, now).status, Status::Queued);

        book.sweep().await.expect("sweep");
        let stored = book.find("stale", Utc::now()).await.expect("stale row");
        assert_eq!(stored.status, "interrupted");
        assert!(stored.finished_at.is_some());
        let stored = book.find("fresh", Utc::now()).await.expect("fresh row");
        assert_eq!(stored.status, "queued");
    }
}
