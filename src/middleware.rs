//! Cross-cutting HTTP layers: the JSON error envelope for errors raised outside handlers
//! (routing, extractors, poem itself), the JSON body size limit, and request logging.

use std::time::Instant;

use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{Method, StatusCode, header},
};

use crate::{
    error::{ErrorBody, code_for_status},
    metrics,
};

/// Turns every non-JSON error response into the SPEC §2 envelope, so clients see one shape
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

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        // Uploads are streamed and limited by the upload handler itself.
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.get(..19))
            .is_some_and(|v| v.eq_ignore_ascii_case("multipart/form-data"));
        if multipart {
            return self.inner.call(req).await;
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.max_bytes as u64 => return Err(too_large()),
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
