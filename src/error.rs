//! One domain error type, and its single mapping onto the JSON error envelope of docs/API.md §2.

use std::collections::BTreeMap;

use poem_openapi::{ApiResponse, Object, payload::Json};
use sea_orm::DbErr;

/// Everything a service can fail with. Handlers turn it into [`ApiError`] with `?`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// `--require-mfa-for-admins`: this admin must enrol a second factor before anything else.
    #[error("enrol a second factor (POST /api/auth/mfa/totp) before using the API")]
    MfaEnrollmentRequired,
    /// A wrong, reused or malformed second-factor code at sign-in.
    #[error("invalid or already used code")]
    InvalidMfaCode,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A stale `If-Match`; carries the current representation so the client can merge.
    #[error("the resource was changed by someone else")]
    VersionMismatch { current: serde_json::Value },
    #[error("validation failed")]
    Validation(BTreeMap<String, String>),
    /// An import URL whose host is (or resolves to) an address imports may not reach.
    #[error("{0}")]
    UrlForbidden(String),
    #[error("too many attempts, try again later")]
    RateLimited { retry_after_secs: u64 },
    /// Every remaining download of a limited file or link is in progress right now.
    #[error("all remaining downloads are in progress; try again shortly")]
    DownloadsInFlight { retry_after_secs: u64 },
    /// Expired, exhausted or deleted.
    #[error("{0}")]
    Gone(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// The requested range starts past the end of a file of `size` bytes.
    #[error("the requested range is outside the file")]
    RangeNotSatisfiable { size: u64 },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A validation error on a single field.
    pub fn field(name: &str, problem: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(name.to_owned(), problem.into())]))
    }
}

/// `{"error": {...}}`
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// Stable, machine-readable `snake_case` code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Per-field problems, only for validation errors (and `url_forbidden`, on `url`).
    #[oai(skip_serializing_if_is_none)]
    pub fields: Option<BTreeMap<String, String>>,
}

/// Body of a 412: the error plus the current representation of the resource.
#[derive(Debug, Clone, Object)]
pub struct VersionMismatchBody {
    pub error: ErrorDetail,
    /// The resource as it is now (same shape as a GET).
    pub current: serde_json::Value,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                fields: None,
            },
        }
    }
}

/// The HTTP face of [`Error`]: every error status an endpoint can answer, each with the envelope,
/// so that all of them appear in the OpenAPI document.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// Malformed request: bad JSON, wrong types, bad parameters.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid, expired or revoked credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated, but the role does not allow this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Duplicate, or a guard such as the last enabled admin.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Expired, exhausted or deleted (files and share links).
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// `If-Match` does not match the current version; `current` holds it.
    #[oai(status = 412)]
    PreconditionFailed(Json<VersionMismatchBody>),
    /// Request body too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Unsupported content type.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The `Range` starts past the end; `Content-Range: bytes */<size>` gives the size.
    #[oai(status = 416)]
    RangeNotSatisfiable(Json<ErrorBody>, #[oai(header = "Content-Range")] String),
    /// Validation failed; `fields` says what is wrong with each field.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many attempts; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Unexpected server failure (details are only in the server log).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let msg = err.to_string();
        match err {
            Error::BadRequest(_) => Self::BadRequest(Json(ErrorBody::new("bad_request", msg))),
            Error::InvalidCredentials => {
                Self::Unauthorized(Json(ErrorBody::new("invalid_credentials", msg)))
            }
            Error::Unauthorized(_) => Self::Unauthorized(Json(ErrorBody::new("unauthorized", msg))),
            Error::Forbidden(_) => Self::Forbidden(Json(ErrorBody::new("forbidden", msg))),
            Error::MfaEnrollmentRequired => {
                Self::Forbidden(Json(ErrorBody::new("mfa_enrollment_required", msg)))
            }
            Error::InvalidMfaCode => {
                Self::Unauthorized(Json(ErrorBody::new("invalid_mfa_code", msg)))
            }
            Error::NotFound(_) => Self::NotFound(Json(ErrorBody::new("not_found", msg))),
            Error::Conflict { code, .. } => Self::Conflict(Json(ErrorBody::new(code, msg))),
            Error::VersionMismatch { current } => {
                let ErrorBody { error } = ErrorBody::new("version_mismatch", msg);
                Self::PreconditionFailed(Json(VersionMismatchBody { error, current }))
            }
            Error::Validation(fields) => {
                let mut body = ErrorBody::new("validation_failed", "validation failed");
                body.error.fields = Some(fields);
                Self::Unprocessable(Json(body))
            }
            Error::UrlForbidden(_) => {
                let mut body = ErrorBody::new("url_forbidden", msg.clone());
                body.error.fields = Some(BTreeMap::from([("url".to_owned(), msg)]));
                Self::Unprocessable(Json(body))
            }
            Error::RateLimited { retry_after_secs } => Self::TooManyRequests(
                Json(ErrorBody::new("rate_limited", msg)),
                retry_after_secs.max(1),
            ),
            Error::DownloadsInFlight { retry_after_secs } => Self::TooManyRequests(
                Json(ErrorBody::new("download_limit_in_flight", msg)),
                retry_after_secs.max(1),
            ),
            Error::Gone(_) => Self::Gone(Json(ErrorBody::new("gone", msg))),
            Error::PayloadTooLarge(_) => {
                Self::PayloadTooLarge(Json(ErrorBody::new("payload_too_large", msg)))
            }
            Error::UnsupportedMediaType(_) => {
                Self::UnsupportedMediaType(Json(ErrorBody::new("unsupported_media_type", msg)))
            }
            Error::RangeNotSatisfiable { size } => Self::RangeNotSatisfiable(
                Json(ErrorBody::new("range_not_satisfiable", msg)),
                format!("bytes */{size}"),
            ),
            Error::Db(_) | Error::Io(_) | Error::Internal(_) => {
                // The cause goes to the log only; clients see a generic message.
                tracing::error!(error = %msg, "internal error");
                Self::Internal(Json(ErrorBody::new("internal", "internal server error")))
            }
        }
    }
}

/// Result type of every API handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// The envelope code used for a bare HTTP status (errors raised by poem itself).
pub fn code_for_status(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        409 => "conflict",
        410 => "gone",
        411 => "length_required",
        412 => "precondition_failed",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        416 => "range_not_satisfiable",
        422 => "validation_failed",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "error",
    }
}
