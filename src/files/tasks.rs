//! The registry of URL import tasks (docs/API.md §5, "Import") and what every import shares: the
//! HTTP client with the address policy, and the concurrency permits. The life of one task is in
//! `import`.
//!
//! Tasks live in this process's memory: `GET /api/tasks` on an instance lists the imports that
//! instance accepted, and a restart forgets them. Finished tasks stay listed for
//! [`FINISHED_TTL`], at most [`MAX_FINISHED`] of them; queued and running ones always.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::ssrf;
use crate::{
    error::{Error, Result},
    pagination::PageParams,
};

/// How long a finished task stays listed.
pub const FINISHED_TTL: Duration = Duration::from_secs(10 * 60);

/// Finished tasks kept at most (the oldest go first), so a burst of imports cannot grow memory.
pub const MAX_FINISHED: usize = 200;

/// An upstream that accepts no connection within this long is not going to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// An upstream silent this long mid-body has stalled; without this a stalled fetch would hold
/// its permit until the overall timeout.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The `--import-*` settings.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub allow_private: bool,
    pub concurrency: usize,
    pub max_redirects: usize,
    pub timeout: Duration,
}

/// The task registry and what every import shares: the HTTP client and the permits.
pub struct Imports {
    pub(super) allow_private: bool,
    pub(super) timeout: Duration,
    pub(super) client: reqwest::Client,
    pub(super) permits: Semaphore,
    tasks: Mutex<Vec<Arc<TaskEntry>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
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
}

pub(super) struct TaskEntry {
    pub(super) id: String,
    pub(super) file_id: String,
    /// The URL as shown to clients (any password replaced).
    pub(super) shown_url: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) created_by: String,
    pub(super) cancel: CancellationToken,
    /// Updated per chunk without taking the lock.
    pub(super) bytes_received: AtomicU64,
    pub(super) state: Mutex<TaskState>,
}

pub(super) struct TaskState {
    pub(super) status: Status,
    pub(super) name: Option<String>,
    pub(super) bytes_total: Option<u64>,
    pub(super) error: Option<String>,
    /// The whole body is in and the file is being stored: too late to cancel.
    pub(super) storing: bool,
    pub(super) finished_at: Option<Instant>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent across a panic (plain field writes), so poisoning is ignored.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Imports {
    pub fn new(config: ImportConfig) -> Result<Self> {
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
        Ok(Self {
            allow_private: config.allow_private,
            timeout: config.timeout,
            client,
            permits: Semaphore::new(config.concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Tasks of this instance, newest first.
    pub fn list(&self, page: PageParams) -> (Vec<TaskSnapshot>, u64) {
        let mut tasks = lock(&self.tasks);
        prune(&mut tasks, Instant::now());
        let total = tasks.len() as u64;
        let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let per_page = usize::try_from(page.per_page).unwrap_or(usize::MAX);
        let items = tasks
            .iter()
            .rev()
            .skip(offset)
            .take(per_page)
            .map(|t| t.snapshot())
            .collect();
        (items, total)
    }

    pub fn get(&self, id: &str) -> Result<TaskSnapshot> {
        Ok(self.find(id)?.snapshot())
    }

    /// Cancels a queued or running task: its fetch stops, `download.aborted` is published if it
    /// had started, and the file never appears. Cancelling a cancelled task is a no-op; a task
    /// that completed or failed (or is already storing its finished download) cannot be
    /// cancelled: 409 `task_finished`.
    pub fn cancel(&self, id: &str) -> Result<TaskSnapshot> {
        let task = self.find(id)?;
        {
            let mut state = lock(&task.state);
            match state.status {
                Status::Cancelled => {}
                Status::Completed | Status::Failed => return Err(finished(state.status)),
                Status::Queued | Status::Running if state.storing => {
                    return Err(Error::conflict(
                        "task_finished",
                        "the import has been downloaded and is being stored",
                    ));
                }
                Status::Queued | Status::Running => {
                    // Marked here, under the lock the runner checks before storing, so a
                    // cancel that was answered 204 always wins.
                    task.cancel.cancel();
                    state.finish(Status::Cancelled, None);
                }
            }
        }
        Ok(task.snapshot())
    }

    fn find(&self, id: &str) -> Result<Arc<TaskEntry>> {
        let mut tasks = lock(&self.tasks);
        prune(&mut tasks, Instant::now());
        tasks
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or(Error::NotFound("task"))
    }

    pub(super) fn register(&self, task: Arc<TaskEntry>) {
        let mut tasks = lock(&self.tasks);
        prune(&mut tasks, Instant::now());
        tasks.push(task);
    }
}

fn finished(status: Status) -> Error {
    let what = if status == Status::Completed {
        "completed"
    } else {
        "failed"
    };
    Error::conflict("task_finished", format!("the import has already {what}"))
}

/// Drops finished tasks older than [`FINISHED_TTL`], then the oldest finished ones beyond
/// [`MAX_FINISHED`]. `tasks` is in creation order.
fn prune(tasks: &mut Vec<Arc<TaskEntry>>, now: Instant) {
    tasks.retain(|t| {
        lock(&t.state)
            .finished_at
            .is_none_or(|at| now.duration_since(at) < FINISHED_TTL)
    });
    let mut excess = tasks
        .iter()
        .filter(|t| lock(&t.state).finished_at.is_some())
        .count()
        .saturating_sub(MAX_FINISHED);
    tasks.retain(|t| {
        if excess > 0 && lock(&t.state).finished_at.is_some() {
            excess -= 1;
            return false;
        }
        true
    });
}

impl TaskState {
    fn finish(&mut self, status: Status, error: Option<String>) {
        // A cancel answered 204 stands, whatever the runner saw afterwards.
        if self.status == Status::Cancelled {
            return;
        }
        self.status = status;
        self.error = error;
        self.finished_at = Some(Instant::now());
    }
}

impl TaskEntry {
    pub(super) fn snapshot(&self) -> TaskSnapshot {
        let state = lock(&self.state);
        TaskSnapshot {
            task_id: self.id.clone(),
            status: state.status,
            url: self.shown_url.clone(),
            name: state.name.clone(),
            file_id: self.file_id.clone(),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            bytes_total: state.bytes_total,
            error: state.error.clone(),
            created_at: self.created_at,
            created_by: self.created_by.clone(),
        }
    }

    /// Queued → running, unless cancelled meanwhile.
    pub(super) fn start_running(&self) -> bool {
        let mut state = lock(&self.state);
        if state.status != Status::Queued {
            return false;
        }
        state.status = Status::Running;
        true
    }

    pub(super) fn response_arrived(&self, name: &str, bytes_total: Option<u64>) {
        let mut state = lock(&self.state);
        state.name = Some(name.to_owned());
        state.bytes_total = bytes_total;
    }

    /// From here on the task cannot be cancelled; `false` if it already was.
    pub(super) fn begin_storing(&self) -> bool {
        let mut state = lock(&self.state);
        if self.cancel.is_cancelled() || state.status != Status::Running {
            return false;
        }
        state.storing = true;
        true
    }

    pub(super) fn finish(&self, status: Status, error: Option<String>) {
        lock(&self.state).finish(status, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(finished_secs_ago: Option<u64>) -> Arc<TaskEntry> {
        let now = Instant::now();
        Arc::new(TaskEntry {
            id: uuid::Uuid::now_v7().to_string(),
            file_id: uuid::Uuid::now_v7().to_string(),
            shown_url: "http://example.com/".into(),
            created_at: Utc::now(),
            created_by: "u".into(),
            cancel: CancellationToken::new(),
            bytes_received: AtomicU64::new(0),
            state: Mutex::new(TaskState {
                status: if finished_secs_ago.is_some() {
                    Status::Completed
                } else {
                    Status::Running
                },
                name: None,
                bytes_total: None,
                error: None,
                storing: false,
                finished_at: finished_secs_ago
                    .map(|s| now.checked_sub(Duration::from_secs(s)).unwrap_or(now)),
            }),
        })
    }

    #[test]
    fn pruning_keeps_running_tasks_and_recent_finished_ones() {
        let running = entry(None);
        let recent = entry(Some(5));
        let old = entry(Some(FINISHED_TTL.as_secs() + 5));
        let mut tasks = vec![old, running.clone(), recent.clone()];
        prune(&mut tasks, Instant::now());
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, [running.id.as_str(), recent.id.as_str()]);

        let mut tasks: Vec<_> = (0..MAX_FINISHED + 3).map(|_| entry(Some(1))).collect();
        tasks.insert(0, entry(None));
        let newest = tasks.last().map(|t| t.id.clone());
        prune(&mut tasks, Instant::now());
        assert_eq!(tasks.len(), MAX_FINISHED + 1);
        assert!(tasks[0].finished_at_is_none());
        assert_eq!(tasks.last().map(|t| t.id.clone()), newest);
    }

    impl TaskEntry {
        fn finished_at_is_none(&self) -> bool {
            lock(&self.state).finished_at.is_none()
        }
    }

    #[test]
    fn a_cancel_is_final() {
        let task = entry(None);
        lock(&task.state).finish(Status::Cancelled, None);
        task.finish(Status::Failed, Some("late".into()));
        let s = task.snapshot();
        assert_eq!((s.status, s.error), (Status::Cancelled, None));
        assert!(!task.begin_storing());
    }
}
