//! URL imports (docs/API.md §5.6): the server downloads a URL into the store as
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
//! Tasks are rows of the `tasks` table, written by [`super::tasks`]; this instance runs the ones
//! it accepted. If it dies, they end `interrupted` (the temp file of a fetch it was running stays
//! in its own data dir until it starts again) and can be retried: a new task for the same URL.

use std::{collections::BTreeMap, error::Error as StdError, sync::atomic::Ordering};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use reqwest::{Response, Url};
use serde_json::json;

use super::{
    naming,
    service::{self, Limits, NewFile},
    ssrf,
    tasks::{Local, NewTask, Running, Status, TaskSnapshot},
    transfer::{Transfer, Via},
};
use crate::{
    auth::sessions::Principal,
    error::{Error, Result},
    realtime::event::{Actor, EventType},
    state::AppState,
    storage::{Storage, TempWriter},
};

/// Bytes of the body kept for content sniffing.
const SNIFF_BYTES: usize = 8 * 1024;
/// Longest accepted URL.
const MAX_URL_LEN: usize = 8 * 1024;
/// Name of a file when neither the request, the response nor the URL gives one.
const FALLBACK_NAME: &str = "download";

/// What a client asks to import (fields as received, not yet validated).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub url: String,
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<i64>,
}

/// A validated request.
struct Spec {
    url: Url,
    name: Option<String>,
    limits: Limits,
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

/// Validates the request, applies the address policy, records the task and starts it.
pub async fn start(
    state: &AppState,
    actor: &Principal,
    request: ImportRequest,
) -> Result<TaskSnapshot> {
    start_task(state, actor, request, None).await
}

/// Starts a new import of a failed, cancelled or interrupted task's URL, with its name and
/// limits (validated again: an `expires_at` now past is refused).
pub async fn retry(state: &AppState, actor: &Principal, task_id: &str) -> Result<TaskSnapshot> {
    let source = state.imports().retry_source(task_id).await?;
    let request = ImportRequest {
        url: source.url,
        name: source.name,
        expires_at: source.expires_at,
        max_downloads: source.max_downloads,
    };
    start_task(state, actor, request, Some(task_id.to_owned())).await
}

async fn start_task(
    state: &AppState,
    actor: &Principal,
    request: ImportRequest,
    retry_of: Option<String>,
) -> Result<TaskSnapshot> {
    let spec = validate(&request)?;
    if !state.imports().allow_private {
        ssrf::check_url(&spec.url).await?;
    }
    let new = NewTask {
        shown_url: shown_url(&request.url, &spec.url),
        source_url: request.url,
        name: spec.name.clone(),
        expires_at: spec.limits.expires_at,
        max_downloads: spec.limits.max_downloads,
        created_by: actor.user_id.clone(),
        retry_of,
    };
    let (snapshot, running) = state.imports().insert(new).await?;
    tokio::spawn(run(state.clone(), running, actor.clone(), spec));
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

/// The life of one task after it was accepted. `running` keeps it registered (and its heartbeat
/// going) until the end.
async fn run(state: AppState, running: Running, actor: Principal, spec: Spec) {
    let task = &*running.local;
    let imports = state.imports();
    let permit = tokio::select! {
        biased;
        () = task.cancel.cancelled() => return,
        permit = imports.permits.acquire() => permit,
    };
    // The semaphore is never closed; if it were, there would be no permit to wait for.
    let Ok(_permit) = permit else {
        imports
            .finish(
                task,
                Status::Failed,
                Some("imports are shutting down".into()),
            )
            .await;
        return;
    };
    match imports.mark_running(task).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(error = %e, task = %task.id, "could not start an import");
            imports
                .finish(
                    task,
                    Status::Failed,
                    Some("could not start the import".into()),
                )
                .await;
            return;
        }
    }
    // Lives outside the cancellable fetch so that a cancel or timeout can still end it with
    // the right `download.aborted` reason.
    let mut transfer: Option<Transfer> = None;
    let timeout = imports.timeout;
    let fetched = tokio::select! {
        biased;
        () = task.cancel.cancelled() => Err(Failure::Cancelled),
        r = tokio::time::timeout(timeout, fetch(&state, task, &actor, &spec, &mut transfer)) => {
            r.unwrap_or_else(|_| {
                Err(Failure::Failed(format!("timed out after {} s", timeout.as_secs())))
            })
        }
    };
    let outcome = match fetched {
        // Storing is quick and must not be cut in half, so it is not cancellable.
        Ok(body) => match imports.begin_storing(task).await {
            Ok(true) => store(&state, task, &actor, spec.limits, body, &mut transfer).await,
            Ok(false) => Err(Failure::Cancelled),
            Err(e) => Err(store_failure(e)),
        },
        Err(f) => Err(f),
    };
    match outcome {
        Ok(()) => imports.finish(task, Status::Completed, None).await,
        Err(failure) => {
            if let Some(t) = transfer.take() {
                t.abort(failure.reason());
            }
            let (status, error) = match failure {
                Failure::Cancelled => (Status::Cancelled, None),
                Failure::TooLarge(e) | Failure::Failed(e) => (Status::Failed, Some(e)),
            };
            imports.finish(task, status, error).await;
        }
    }
}

/// Requests the URL and streams a 2xx body into a temp file, within the size limit. Starts the
/// transfer (`download.started`) once the upstream has answered.
async fn fetch(
    state: &AppState,
    task: &Local,
    actor: &Principal,
    spec: &Spec,
    transfer: &mut Option<Transfer>,
) -> std::result::Result<Fetched, Failure> {
    let response = state
        .imports()
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
    // The name and length are shown in the task; failing to record them is not worth the
    // download.
    if let Err(e) = state
        .imports()
        .response_arrived(task, &name, bytes_total)
        .await
    {
        tracing::warn!(error = %e, task = %task.id, "could not record an import's response");
    }
    let transfer = transfer.insert(Transfer::download(
        state.realtime(),
        task.id.clone(),
        &task.file_id,
        Via::Import,
        Some(actor.into()),
        bytes_total,
        0,
    ));

    let max = state.settings().max_upload_bytes;
    if bytes_total.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut writer = state.storage().temp_writer();
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
    task: &Local,
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
        .storage()
        .publish(staged, &key)
        .await
        .map_err(store_failure)?;
    let duration_ms = transfer.as_ref().map_or(0, |t| {
        u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
    });
    match record(state, actor, &task.id, new, bytes, duration_ms).await {
        Ok(()) => {
            if let Some(t) = transfer.take() {
                t.finish();
            }
            Ok(())
        }
        Err(e) => {
            if let Err(e) = state.storage().delete(&key).await {
                tracing::warn!(error = %e, %key, "could not delete an import's bytes");
            }
            Err(store_failure(e))
        }
    }
}

/// The row and both durable events.
async fn record(
    state: &AppState,
    actor: &Principal,
    task_id: &str,
    new: NewFile,
    bytes: u64,
    duration_ms: u64,
) -> Result<()> {
    let mut w = state.writer().begin().await?;
    let file = service::insert(&mut w, Some(actor), new).await?;
    w.event(
        EventType::DownloadCompleted,
        Some(&Actor::from(actor)),
        json!({"download_id": task_id, "file_id": file.id, "via": Via::Import.as_str(),
               "bytes": bytes, "duration_ms": duration_ms, "download_count": 0}),
    );
    w.commit().await?;
    Ok(())
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
}
