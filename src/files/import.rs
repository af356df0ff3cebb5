//! URL imports (SPEC §5, files contract "Import"): the server downloads a URL into the store as
//! a background task, reporting progress like a download (`via: "import"`).
//!
//! A task is accepted (202) only after its URL passed validation and, unless
//! `--import-allow-private`, the address policy of [`super::ssrf`]. It then waits for one of
//! `--import-concurrency` permits (`queued`), fetches (`running`) within
//! `--import-timeout-secs`, streaming the body into a temp file exactly like an upload, and ends
//! `completed` (the file exists under the id allocated up front), `failed` (with `error`) or
//! `cancelled`. Nothing is left behind by a failed or cancelled task: the temp file goes with its
//! writer, and the object is only published once the whole body is in.
//!
//! Tasks live in this process's memory: `GET /api/tasks` on an instance lists the imports that
//! instance accepted, and a restart forgets them (a running import is then simply lost; its temp
//! file is removed at the next start). Finished tasks stay listed for [`FINISHED_TTL`], at most
//! [`MAX_FINISHED`] of them; queued and running ones always.

use std::{
    collections::BTreeMap,
    error::Error as StdError,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use reqwest::{Response, Url};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{
    naming,
    service::{self, Limits, NewFile},
    ssrf,
    transfer::{Transfer, Via},
};
use crate::{
    app::AppState,
    auth::sessions::Principal,
    error::{Error, Result},
    pagination::PageParams,
    realtime::{self, event::EventType},
    storage::{Storage, TempWriter},
};

/// How long a finished task stays listed.
pub const FINISHED_TTL: Duration = Duration::from_secs(10 * 60);
/// Finished tasks kept at most (the oldest go first), so a burst of imports cannot grow memory.
pub const MAX_FINISHED: usize = 200;
/// Bytes of the body kept for content sniffing.
const SNIFF_BYTES: usize = 8 * 1024;
/// Longest accepted URL.
const MAX_URL_LEN: usize = 8 * 1024;
/// An upstream that accepts no connection within this long is not going to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// An upstream silent this long mid-body has stalled; without this a stalled fetch would hold
/// its permit until the overall timeout.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Name of a file when neither the request, the response nor the URL gives one.
const FALLBACK_NAME: &str = "download";

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
    allow_private: bool,
    timeout: Duration,
    client: reqwest::Client,
    permits: Semaphore,
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

/// What a client asks to import (fields as received, not yet validated).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub url: String,
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<i64>,
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

/// A validated request.
struct Spec {
    url: Url,
    name: Option<String>,
    limits: Limits,
}

struct TaskEntry {
    id: String,
    file_id: String,
    /// The URL as shown to clients (any password replaced).
    shown_url: String,
    created_at: DateTime<Utc>,
    created_by: String,
    cancel: CancellationToken,
    /// Updated per chunk without taking the lock.
    bytes_received: AtomicU64,
    state: Mutex<TaskState>,
}

struct TaskState {
    status: Status,
    name: Option<String>,
    bytes_total: Option<u64>,
    error: Option<String>,
    /// The whole body is in and the file is being stored: too late to cancel.
    storing: bool,
    finished_at: Option<Instant>,
}

/// How a fetch ended other than with the whole body.
enum Failure {
    Cancelled,
    TooLarge(String),
    Failed(String),
}

impl Failure {
    /// The `reason` of `download.aborted`.
    fn reason(&self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::TooLarge(_) => "too_large",
            Self::Failed(_) => "failed",
        }
    }
}

/// A body received whole into a temp file, ready to be stored.
struct Fetched {
    writer: TempWriter,
    name: String,
    declared_type: Option<String>,
    head: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

    fn register(&self, task: Arc<TaskEntry>) {
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
    fn snapshot(&self) -> TaskSnapshot {
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
    fn start_running(&self) -> bool {
        let mut state = lock(&self.state);
        if state.status != Status::Queued {
            return false;
        }
        state.status = Status::Running;
        true
    }

    fn response_arrived(&self, name: &str, bytes_total: Option<u64>) {
        let mut state = lock(&self.state);
        state.name = Some(name.to_owned());
        state.bytes_total = bytes_total;
    }

    /// From here on the task cannot be cancelled; `false` if it already was.
    fn begin_storing(&self) -> bool {
        let mut state = lock(&self.state);
        if self.cancel.is_cancelled() || state.status != Status::Running {
            return false;
        }
        state.storing = true;
        true
    }

    fn finish(&self, status: Status, error: Option<String>) {
        lock(&self.state).finish(status, error);
    }
}

/// Validates the request, applies the address policy, registers the task and starts it.
pub async fn start(
    state: &AppState,
    actor: &Principal,
    request: ImportRequest,
) -> Result<TaskSnapshot> {
    let spec = validate(&request)?;
    if !state.imports.allow_private {
        ssrf::check_url(&spec.url).await?;
    }
    let task = Arc::new(TaskEntry {
        id: uuid::Uuid::now_v7().to_string(),
        file_id: uuid::Uuid::now_v7().to_string(),
        shown_url: shown_url(&request.url, &spec.url),
        created_at: Utc::now(),
        created_by: actor.user_id.clone(),
        cancel: CancellationToken::new(),
        bytes_received: AtomicU64::new(0),
        state: Mutex::new(TaskState {
            status: Status::Queued,
            name: spec.name.clone(),
            bytes_total: None,
            error: None,
            storing: false,
            finished_at: None,
        }),
    });
    state.imports.register(task.clone());
    let snapshot = task.snapshot();
    tokio::spawn(run(state.clone(), task, actor.clone(), spec));
    Ok(snapshot)
}

/// Every problem at once, as field errors: `url`, `name`, `expires_at`, `max_downloads`.
fn validate(request: &ImportRequest) -> Result<Spec> {
    let mut problems = BTreeMap::new();
    let url = match parse_url(&request.url) {
        Ok(url) => Some(url),
        Err(problem) => {
            problems.insert("url".to_owned(), problem.to_owned());
            None
        }
    };
    let name = match request
        .name
        .as_deref()
        .map(|n| service::clean_name(n, "name"))
    {
        Some(Err(e)) => {
            merge(&mut problems, e)?;
            None
        }
        Some(Ok(n)) => Some(n),
        None => None,
    };
    let limits = Limits {
        expires_at: request.expires_at,
        max_downloads: request.max_downloads,
    };
    if let Err(e) = service::validate_limits(&limits) {
        merge(&mut problems, e)?;
    }
    match url {
        Some(url) if problems.is_empty() => Ok(Spec { url, name, limits }),
        _ => Err(Error::Validation(problems)),
    }
}

/// Adds a validation error's fields to `problems`; any other error is passed on.
fn merge(problems: &mut BTreeMap<String, String>, e: Error) -> Result<()> {
    match e {
        Error::Validation(fields) => {
            problems.extend(fields);
            Ok(())
        }
        other => Err(other),
    }
}

fn parse_url(raw: &str) -> std::result::Result<Url, &'static str> {
    if raw.len() > MAX_URL_LEN {
        return Err("is too long");
    }
    let url = Url::parse(raw.trim()).map_err(|_| "must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("only http and https URLs can be imported");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host");
    }
    Ok(url)
}

/// The URL as sent, unless it carries a password: tasks are visible to every user.
fn shown_url(raw: &str, url: &Url) -> String {
    if url.password().is_none() {
        return raw.to_owned();
    }
    let mut shown = url.clone();
    let _ = shown.set_password(Some("***"));
    shown.to_string()
}

/// The life of one task after it was accepted.
async fn run(state: AppState, task: Arc<TaskEntry>, actor: Principal, spec: Spec) {
    let permit = tokio::select! {
        biased;
        () = task.cancel.cancelled() => return,
        permit = state.imports.permits.acquire() => permit,
    };
    // The semaphore is never closed; if it were, there would be no permit to wait for.
    let Ok(_permit) = permit else {
        task.finish(Status::Failed, Some("imports are shutting down".into()));
        return;
    };
    if !task.start_running() {
        return;
    }
    // Lives outside the cancellable fetch so that a cancel or timeout can still end it with
    // the right `download.aborted` reason.
    let mut transfer: Option<Transfer> = None;
    let timeout = state.imports.timeout;
    let fetched = tokio::select! {
        biased;
        () = task.cancel.cancelled() => Err(Failure::Cancelled),
        r = tokio::time::timeout(timeout, fetch(&state, &task, &actor, &spec, &mut transfer)) => {
            r.unwrap_or_else(|_| {
                Err(Failure::Failed(format!("timed out after {} s", timeout.as_secs())))
            })
        }
    };
    let outcome = match fetched {
        // Storing is quick and must not be cut in half, so it is not cancellable.
        Ok(body) if task.begin_storing() => {
            store(&state, &task, &actor, spec.limits, body, &mut transfer).await
        }
        Ok(_) => Err(Failure::Cancelled),
        Err(f) => Err(f),
    };
    match outcome {
        Ok(()) => task.finish(Status::Completed, None),
        Err(failure) => {
            if let Some(t) = transfer.take() {
                t.abort(failure.reason());
            }
            let (status, error) = match failure {
                Failure::Cancelled => (Status::Cancelled, None),
                Failure::TooLarge(e) | Failure::Failed(e) => (Status::Failed, Some(e)),
            };
            task.finish(status, error);
        }
    }
}

/// Requests the URL and streams a 2xx body into a temp file, within the size limit. Starts the
/// transfer (`download.started`) once the upstream has answered.
async fn fetch(
    state: &AppState,
    task: &TaskEntry,
    actor: &Principal,
    spec: &Spec,
    transfer: &mut Option<Transfer>,
) -> std::result::Result<Fetched, Failure> {
    let response = state
        .imports
        .client
        .get(spec.url.clone())
        .send()
        .await
        .map_err(|e| Failure::Failed(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure::Failed(format!("the server answered {status}")));
    }
    let bytes_total = response.content_length();
    let name = spec.name.clone().unwrap_or_else(|| name_from(&response));
    let declared_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    task.response_arrived(&name, bytes_total);
    let transfer = transfer.insert(Transfer::download(
        state,
        task.id.clone(),
        &task.file_id,
        Via::Import,
        Some(actor.into()),
        bytes_total,
        0,
    ));

    let max = state.settings.max_upload_bytes;
    if bytes_total.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut writer = state.storage.temp_writer();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::Failed(describe(&e)))?;
        size += chunk.len() as u64;
        // Checked before writing: an over-size body never reaches the disk past the limit.
        if size > max {
            return Err(too_large(max));
        }
        keep_head(&mut head, &chunk);
        let len = chunk.len() as u64;
        writer
            .write(chunk)
            .await
            .map_err(|e| Failure::Failed(format!("could not write the file: {e}")))?;
        transfer.advance(len);
        task.bytes_received.store(size, Ordering::Relaxed);
    }
    if bytes_total.is_some_and(|n| n != size) {
        return Err(Failure::Failed(format!(
            "the body ended after {size} of {} bytes",
            bytes_total.unwrap_or_default()
        )));
    }
    Ok(Fetched {
        writer,
        name,
        declared_type,
        head,
    })
}

fn keep_head(head: &mut Vec<u8>, chunk: &Bytes) {
    if head.len() < SNIFF_BYTES {
        let take = (SNIFF_BYTES - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
    }
}

fn too_large(max: u64) -> Failure {
    Failure::TooLarge(format!(
        "the file is larger than the {max}-byte upload limit"
    ))
}

/// A fetch error for the task's `error`: the address policy's own message when it refused, else the
/// error with its causes (reqwest's top-level message alone says little).
fn describe(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(refused) = e.downcast_ref::<ssrf::Forbidden>() {
            return refused.to_string();
        }
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Publishes the staged body under the file's key, then creates its row with `file.created` and
/// `download.completed` in one transaction. If the row cannot be written, the bytes go again.
async fn store(
    state: &AppState,
    task: &TaskEntry,
    actor: &Principal,
    limits: Limits,
    body: Fetched,
    transfer: &mut Option<Transfer>,
) -> std::result::Result<(), Failure> {
    let staged = body.writer.finish().await.map_err(store_failure)?;
    let key = Storage::key_for(&task.file_id);
    let bytes = staged.size;
    let new = NewFile {
        id: task.file_id.clone(),
        content_type: naming::content_type(body.declared_type.as_deref(), &body.head, &body.name),
        name: body.name,
        size: staged.size,
        sha256: staged.sha256.clone(),
        storage_key: key.clone(),
        expires_at: limits.expires_at,
        max_downloads: limits.max_downloads,
    };
    state
        .storage
        .publish(staged, &key)
        .await
        .map_err(store_failure)?;
    let duration_ms = transfer.as_ref().map_or(0, |t| {
        u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
    });
    match record(state, actor, &task.id, new, bytes, duration_ms).await {
        Ok(seq) => {
            state.log_advanced(seq);
            if let Some(t) = transfer.take() {
                t.finish();
            }
            Ok(())
        }
        Err(e) => {
            if let Err(e) = state.storage.delete(&key).await {
                tracing::warn!(error = %e, %key, "could not delete an import's bytes");
            }
            Err(store_failure(e))
        }
    }
}

/// The row and both durable events; returns the last seq.
async fn record(
    state: &AppState,
    actor: &Principal,
    task_id: &str,
    new: NewFile,
    bytes: u64,
    duration_ms: u64,
) -> Result<i64> {
    let tx = state.db.begin_write().await?;
    let (file, _) = service::insert(&*tx, Some(actor), new).await?;
    let seq = realtime::record(
        &*tx,
        EventType::DownloadCompleted,
        Some(actor),
        &json!({"download_id": task_id, "file_id": file.id, "via": Via::Import.as_str(),
                "bytes": bytes, "duration_ms": duration_ms, "download_count": 0}),
    )
    .await?;
    tx.commit().await?;
    Ok(seq)
}

/// Storage and database errors are logged; clients (every user can read tasks) get no details.
fn store_failure(e: Error) -> Failure {
    tracing::error!(error = %e, "could not store an imported file");
    Failure::Failed("could not store the file".into())
}

/// The file name the response suggests: its `Content-Disposition` filename (the server's
/// explicit choice, and often the only good name for URLs like `/download?id=5`), else the last
/// segment of the final URL's path, else [`FALLBACK_NAME`].
fn name_from(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_filename)
        .and_then(|n| naming::sanitize(&n))
        .or_else(|| url_name(response.url()))
        .unwrap_or_else(|| FALLBACK_NAME.to_owned())
}

fn url_name(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    naming::sanitize(&percent_decode_str(segment).decode_utf8_lossy())
}

/// `filename*` (RFC 5987, UTF-8 only) or else `filename` of a `Content-Disposition` value.
/// Parameters are split on `;`, so a quoted name containing one is cut there: good enough
/// for a suggested name.
fn disposition_filename(header: &str) -> Option<String> {
    let mut plain = None;
    for param in header.split(';').skip(1) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let mut parts = value.splitn(3, '\'');
                let (charset, _lang, encoded) = (parts.next(), parts.next(), parts.next());
                if let (Some(cs), Some(encoded)) = (charset, encoded)
                    && cs.eq_ignore_ascii_case("utf-8")
                {
                    return Some(percent_decode_str(encoded).decode_utf8_lossy().into_owned());
                }
            }
            "filename" => plain = Some(value.trim_matches('"').to_owned()),
            _ => {}
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("https://example.com/a.txt").is_ok());
        assert!(parse_url(" http://example.com ").is_ok());
        for bad in [
            "",
            "not a url",
            "http://",
            "file:///etc/passwd",
            "ftp://example.com/x",
            "javascript:alert(1)",
            "/relative/path",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_url(&format!("http://e.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn validation_reports_every_field() {
        let request = ImportRequest {
            url: "ftp://x".into(),
            name: Some("../".into()),
            expires_at: Some(Utc::now() - chrono::Duration::hours(1)),
            max_downloads: Some(0),
        };
        match validate(&request) {
            Err(Error::Validation(fields)) => assert_eq!(
                fields.keys().map(String::as_str).collect::<Vec<_>>(),
                ["expires_at", "max_downloads", "name", "url"]
            ),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("should be refused"),
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        let raw = "https://user:secret@example.com/f";
        let url = parse_url(raw).expect("valid");
        assert_eq!(shown_url(raw, &url), "https://user:***@example.com/f");
        let raw = "https://example.com/f?x=1";
        let url = parse_url(raw).expect("valid");
        assert_eq!(shown_url(raw, &url), raw);
    }

    #[test]
    fn names_from_disposition_and_url() {
        assert_eq!(
            disposition_filename("attachment; filename=\"a b.txt\"").as_deref(),
            Some("a b.txt")
        );
        assert_eq!(
            disposition_filename("attachment; filename=\"x.txt\"; filename*=UTF-8''r%C3%A9.pdf")
                .as_deref(),
            Some("ré.pdf")
        );
        assert_eq!(disposition_filename("inline"), None);
        let url = |s: &str| Url::parse(s).expect("test url");
        assert_eq!(
            url_name(&url("http://h/dir/my%20file.bin?x=1")).as_deref(),
            Some("my file.bin")
        );
        assert_eq!(url_name(&url("http://h/dir/")).as_deref(), Some("dir"));
        assert_eq!(url_name(&url("http://h/")), None);
        assert_eq!(
            url_name(&url("http://h/..%2F..%2Fetc%2Fpasswd")).as_deref(),
            Some("passwd")
        );
    }

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
