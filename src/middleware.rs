//! Cross-cutting HTTP layers: the JSON error envelope for errors raised outside handlers
//! (routing, extractors, poem itself), the JSON body size limit, request logging, the input
//! check (URLs without NUL and in UTF-8, readable precondition headers) and the request body
//! idle timeout.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream::BoxStream};
use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{Method, StatusCode, Uri, header},
};

use crate::{
    error::{ErrorBody, code_for_status},
    metrics,
};

/// Turns every non-JSON error response into the docs/API.md §2 envelope, so clients see one shape
/// whatever produced the error.
pub struct ErrorEnvelope;

impl<E: Endpoint> Middleware<E> for ErrorEnvelope {
    type Output = ErrorEnvelopeEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        ErrorEnvelopeEndpoint(ep)
    }
}

pub struct ErrorEnvelopeEndpoint<E>(E);

impl<E: Endpoint> Endpoint for ErrorEnvelopeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let started = Instant::now();
        let resp = match self.0.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let route = route_label(&resp, &path);
        let resp = envelope(resp, &method, &path).await;
        let status = resp.status().as_u16();
        metrics::http_request(route, method.as_str(), status);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        if status >= 500 {
            tracing::warn!(%method, path, status, elapsed_ms, "request failed");
        } else {
            tracing::debug!(%method, path, status, elapsed_ms, "request");
        }
        Ok(resp)
    }
}

/// A bounded label: the OpenAPI operation id, or a fixed name for the other routes.
fn route_label(resp: &Response, path: &str) -> &'static str {
    if let Some(op) = resp.data::<poem_openapi::OperationId>() {
        return op.0;
    }
    if resp.data::<crate::panel::PanelRoute>().is_some() {
        return "panel";
    }
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/api/ws" => "ws",
        "/api/openapi.json" => "openapi",
        "/api/asyncapi.json" => "asyncapi",
        p if p.starts_with("/api/docs") => "docs",
        _ => "other",
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

async fn envelope(mut resp: Response, method: &Method, path: &str) -> Response {
    let status = resp.status();
    if status.as_u16() < 400 || is_json(&resp) {
        return resp;
    }
    let text = resp.take_body().into_string().await.unwrap_or_default();
    let message = match status {
        StatusCode::NOT_FOUND => format!("no such resource: {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("method {method} is not allowed on {path}"),
        StatusCode::UNAUTHORIZED => "missing or invalid bearer token".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
        s if s.is_server_error() => {
            tracing::error!(status = s.as_u16(), detail = %text, "server error");
            "internal server error".to_owned()
        }
        _ if text.trim().is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => text,
    };
    let body = ErrorBody::new(code_for_status(status.as_u16()), message);
    let json = poem_openapi::types::ToJSON::to_json_string(&body);
    let mut out = Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(json);
    // Keep headers that matter to the client (Allow, Retry-After, WWW-Authenticate…).
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// Refuses JSON (non-multipart) bodies over the limit with 413, whether or not a `Content-Length` is sent.
pub struct BodyLimit {
    pub max_bytes: usize,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

fn too_large() -> poem::Error {
    poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
}

/// The one non-upload route whose body is not limited here.
const IMPORT_PATH: &str = "/api/users/import";

/// Bodies up to this size are read and dropped before a 413 goes out.
const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How long draining may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// A client still sending its body when the 413 arrives gets a reset once the connection
/// closes, and may never read the answer. For modestly oversized bodies, swallow the rest
/// first (bounded in bytes and time) so the client sees a clean JSON 413.
async fn drain_before_refusing(req: &mut Request, declared: u64) {
    if declared > DRAIN_MAX_BYTES {
        return;
    }
    let mut body = req.take_body().into_async_read();
    let _ = tokio::time::timeout(
        DRAIN_TIME,
        tokio::io::copy(
            &mut tokio::io::AsyncReadExt::take(&mut body, DRAIN_MAX_BYTES),
            &mut tokio::io::sink(),
        ),
    )
    .await;
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        // Uploads (multipart, and tus `application/offset+octet-stream` chunks) are streamed
        // and limited by the upload handlers themselves.
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let streamed = ["multipart/form-data", "application/offset+octet-stream"]
            .iter()
            .any(|t| {
                content_type
                    .get(..t.len())
                    .is_some_and(|v| v.eq_ignore_ascii_case(t))
            });
        // A user import is a file of any content type, read under its own limit
        // (`users::import::MAX_BODY_BYTES`).
        let import = req.method() == Method::POST && req.original_uri().path() == IMPORT_PATH;
        if streamed || import {
            return self.inner.call(req).await;
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.max_bytes as u64 => {
                drain_before_refusing(&mut req, len).await;
                return Err(too_large());
            }
            Some(_) => {}
            None if matches!(
                *req.method(),
                Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
            ) => {}
            None => {
                // Chunked body: read it under the limit now, so handlers never see more.
                let body = req.take_body();
                let bytes = body
                    .into_bytes_limit(self.max_bytes)
                    .await
                    .map_err(|e| match e {
                        poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                        other => poem::Error::new(other, StatusCode::BAD_REQUEST),
                    })?;
                req.set_body(Body::from(bytes));
            }
        }
        self.inner.call(req).await
    }
}

/// Refuses (400) what no route can make sense of: a URL whose path or query, percent-decoded,
/// holds a NUL character or is not UTF-8 (no identifier, name or search term can contain
/// either, and PostgreSQL cannot even store a NUL), and a precondition or range header that is
/// not readable text (handlers would see it as absent: a PATCH with a garbled `If-Match` would
/// apply unconditionally).
pub struct InputGuard;

impl<E: Endpoint> Middleware<E> for InputGuard {
    type Output = InputGuardEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        InputGuardEndpoint(ep)
    }
}

pub struct InputGuardEndpoint<E>(E);

/// Headers the server evaluates, which must be readable when present.
const EVALUATED_HEADERS: [header::HeaderName; 6] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
];

/// What is wrong with `uri`, if anything.
fn url_problem(uri: &Uri) -> Option<&'static str> {
    let check = |raw: &str| {
        let bytes = percent_encoding::percent_decode_str(raw).collect::<Vec<u8>>();
        if bytes.contains(&0) {
            Some("the URL contains a NUL character")
        } else if std::str::from_utf8(&bytes).is_err() {
            Some("the URL is not valid UTF-8 once percent-decoded")
        } else {
            None
        }
    };
    check(uri.path()).or_else(|| uri.query().and_then(check))
}

impl<E: Endpoint> Endpoint for InputGuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if let Some(problem) = url_problem(req.uri()) {
            return Err(poem::Error::from_string(problem, StatusCode::BAD_REQUEST));
        }
        for name in &EVALUATED_HEADERS {
            if req
                .headers()
                .get_all(name)
                .iter()
                .any(|v| v.to_str().is_err())
            {
                return Err(poem::Error::from_string(
                    format!("the {name} header is not readable: only visible ASCII is allowed"),
                    StatusCode::BAD_REQUEST,
                ));
            }
        }
        self.0.call(req).await.map(IntoResponse::into_response)
    }
}

/// Cuts off request bodies that stall: when the server waits for the next piece of a body and
/// nothing arrives for `idle`, the body read fails and the request is answered 408 with
/// `Connection: close` (hyper then drops the connection, the body being unread). Only time
/// spent waiting on the client counts, so a slow but steady upload, or a handler that is busy
/// between reads (a disk that is slow to take the bytes), never hits it.
pub struct BodyIdleTimeout {
    pub idle: Duration,
}

impl<E: Endpoint> Middleware<E> for BodyIdleTimeout {
    type Output = BodyIdleTimeoutEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        BodyIdleTimeoutEndpoint {
            inner: ep,
            idle: self.idle,
        }
    }
}

pub struct BodyIdleTimeoutEndpoint<E> {
    inner: E,
    idle: Duration,
}

impl<E: Endpoint> Endpoint for BodyIdleTimeoutEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let body = req.take_body();
        if body.is_empty() {
            req.set_body(body);
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let timed_out = Arc::new(AtomicBool::new(false));
        req.set_body(Body::from_bytes_stream(IdleBody {
            inner: body.into_bytes_stream().boxed(),
            idle: self.idle,
            timer: Box::pin(tokio::time::sleep(self.idle)),
            waiting: false,
            timed_out: timed_out.clone(),
        }));
        let result = self.inner.call(req).await;
        if timed_out.load(Ordering::Relaxed) {
            tracing::info!(idle_secs = self.idle.as_secs(), "request body stalled: 408");
            return Ok(Response::builder()
                .status(StatusCode::REQUEST_TIMEOUT)
                .header(header::CONNECTION, "close")
                .body(format!(
                    "no request body data arrived for {} s",
                    self.idle.as_secs()
                )));
        }
        result.map(IntoResponse::into_response)
    }
}

/// A request body whose reads fail once the client has sent nothing for `idle` while a read was
/// waiting.
struct IdleBody {
    inner: BoxStream<'static, io::Result<Bytes>>,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// A read is waiting for the client (the timer runs only then).
    waiting: bool,
    timed_out: Arc<AtomicBool>,
}

impl Stream for IdleBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if !this.waiting {
            this.waiting = true;
            let deadline = tokio::time::Instant::now() + this.idle;
            this.timer.as_mut().reset(deadline);
        }
        if let Poll::Ready(item) = this.inner.poll_next_unpin(cx) {
            this.waiting = false;
            return Poll::Ready(item);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request body stalled",
            ))));
        }
        Poll::Pending
    }
}
