//! `/api/uploads`: the tus 1.0.0 endpoints, thin over [`Uploads`]. Every tus response carries
//! `Tus-Resumable`, and a request without a supported `Tus-Resumable` (but OPTIONS) is refused
//! with 412 before anything else, by [`tus_protocol`] around each operation.

use poem::{
    Endpoint, EndpointExt, IntoResponse, Response,
    http::{HeaderValue, Method},
    web::Data,
};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use super::{
    body::Chunk,
    dto::{Upload, UploadPage},
    service::{self, Appended, NewUpload, Status, Uploads},
    tus,
};
use crate::{
    auth::guard::BearerAuth,
    error::{ApiError, ApiResult, Error, ErrorBody},
    pagination::PageParams,
    state::AppState,
    tags::ApiTags,
};

pub struct UploadsApi;

fn uploads(state: &AppState) -> Uploads {
    Uploads::new(
        state.writer().clone(),
        state.storage().clone(),
        state.settings().max_upload_bytes,
        state.settings().upload_expiry,
    )
}

/// Wraps each tus operation: 412 for an unsupported `Tus-Resumable` (OPTIONS excepted), and
/// `Tus-Resumable: 1.0.0` on every response, errors from authentication included.
fn tus_protocol<E: Endpoint + 'static>(ep: E) -> impl Endpoint<Output = Response> {
    ep.around(|ep, req| async move {
        let supported = req.method() == Method::OPTIONS
            || req
                .headers()
                .get("tus-resumable")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == tus::VERSION);
        let mut resp = if supported {
            match ep.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            }
        } else {
            TusError::UnsupportedVersion(
                Json(ErrorBody::new(
                    "unsupported_tus_version",
                    format!("send Tus-Resumable: {}", tus::VERSION),
                )),
                tus::VERSION.to_owned(),
            )
            .into_response()
        };
        resp.headers_mut()
            .insert("tus-resumable", HeaderValue::from_static(tus::VERSION));
        Ok(resp)
    })
}

/// Errors of the tus operations: the usual envelope, plus the protocol's own statuses.
#[derive(Debug, ApiResponse)]
#[oai(header(name = "Tus-Resumable", ty = "String", description = "Always `1.0.0`."))]
pub enum TusError {
    /// Malformed request: a missing or malformed tus header, an unsupported checksum algorithm.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid, expired or revoked credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated, but the role does not allow this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such upload.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// `Upload-Offset` is not the upload's offset (or another request moved it meanwhile).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The upload expired.
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// `Tus-Resumable` missing or not `1.0.0`.
    #[oai(status = 412)]
    UnsupportedVersion(Json<ErrorBody>, #[oai(header = "Tus-Version")] String),
    /// `Upload-Length` over the upload limit, or more bytes than the upload has left.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/offset+octet-stream`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Invalid metadata (`filename`, `expires_at`, `max_downloads`); `fields` says which.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// `Upload-Checksum` does not match the body; nothing was stored.
    #[oai(status = 460)]
    ChecksumMismatch(Json<ErrorBody>),
    /// Unexpected server failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl From<Error> for TusError {
    fn from(e: Error) -> Self {
        match ApiError::from(e) {
            ApiError::BadRequest(b) => Self::BadRequest(b),
            ApiError::Unauthorized(b) => Self::Unauthorized(b),
            ApiError::Forbidden(b) => Self::Forbidden(b),
            ApiError::NotFound(b) => Self::NotFound(b),
            ApiError::Conflict(b) => Self::Conflict(b),
            ApiError::Gone(b) => Self::Gone(b),
            ApiError::PayloadTooLarge(b) => Self::PayloadTooLarge(b),
            ApiError::UnsupportedMediaType(b) => Self::UnsupportedMediaType(b),
            ApiError::Unprocessable(b) => Self::Unprocessable(b),
            ApiError::Internal(b) => Self::Internal(b),
            // Not raised by the uploads service.
            ApiError::PreconditionFailed(_)
            | ApiError::RangeNotSatisfiable(..)
            | ApiError::TooManyRequests(..) => {
                Self::Internal(Json(ErrorBody::new("internal", "internal server error")))
            }
        }
    }
}

type TusResult<T> = Result<T, TusError>;

#[derive(ApiResponse)]
#[oai(header(name = "Tus-Resumable", ty = "String", description = "Always `1.0.0`."))]
pub enum OptionsResponse {
    /// What this server supports.
    #[oai(status = 204)]
    Ok(
        #[oai(header = "Tus-Version")] String,
        #[oai(header = "Tus-Extension")] String,
        /// The upload limit (`--max-upload-bytes`).
        #[oai(header = "Tus-Max-Size")]
        u64,
        #[oai(header = "Tus-Checksum-Algorithm")] String,
    ),
}

#[derive(ApiResponse)]
#[oai(header(name = "Tus-Resumable", ty = "String", description = "Always `1.0.0`."))]
pub enum CreateUploadResponse {
    /// Created; `Location` is the upload's URL. With data, `Upload-Offset` says how much was
    /// stored, and `Switchboard-File-Id` is set if that completed the upload.
    #[oai(status = 201)]
    Created(
        #[oai(header = "Location")] String,
        #[oai(header = "Upload-Offset")] u64,
        #[oai(header = "Upload-Expires")] Option<String>,
        #[oai(header = "Switchboard-File-Id")] Option<String>,
    ),
}

#[derive(ApiResponse)]
#[oai(header(name = "Tus-Resumable", ty = "String", description = "Always `1.0.0`."))]
pub enum HeadUploadResponse {
    /// Where the upload stands. `Switchboard-File-Id` once it is a file.
    #[oai(status = 200)]
    Ok(
        #[oai(header = "Upload-Offset")] u64,
        #[oai(header = "Upload-Length")] u64,
        #[oai(header = "Upload-Metadata")] Option<String>,
        #[oai(header = "Upload-Expires")] Option<String>,
        #[oai(header = "Switchboard-File-Id")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
#[oai(header(name = "Tus-Resumable", ty = "String", description = "Always `1.0.0`."))]
pub enum PatchUploadResponse {
    /// Stored; `Upload-Offset` is the new offset. The request that completes the upload also
    /// has `Switchboard-File-Id`, the new file's id.
    #[oai(status = 204)]
    Stored(
        #[oai(header = "Upload-Offset")] u64,
        #[oai(header = "Upload-Expires")] Option<String>,
        #[oai(header = "Switchboard-File-Id")] Option<String>,
    ),
}

#[derive(ApiResponse)]
#[oai(header(name = "Tus-Resumable", ty = "String", description = "Always `1.0.0`."))]
pub enum TerminateUploadResponse {
    /// Deleted with every stored byte (a finished upload's file stays).
    #[oai(status = 204)]
    Deleted,
}

fn expires(s: &Status) -> Option<String> {
    s.expires_at.map(tus::http_date)
}

fn patch_response(outcome: Appended) -> TusResult<PatchUploadResponse> {
    match outcome {
        Appended::Stored(s) => Ok(PatchUploadResponse::Stored(
            s.offset,
            expires(&s),
            s.file_id,
        )),
        Appended::ChecksumMismatch => Err(checksum_mismatch()),
    }
}

fn checksum_mismatch() -> TusError {
    TusError::ChecksumMismatch(Json(ErrorBody::new(
        "checksum_mismatch",
        "the body does not match Upload-Checksum; nothing was stored",
    )))
}

#[OpenApi(tag = "ApiTags::Uploads")]
impl UploadsApi {
    /// tus discovery
    ///
    /// `Tus-Version`, `Tus-Extension`, `Tus-Max-Size` and `Tus-Checksum-Algorithm`; no
    /// authentication and no `Tus-Resumable` needed.
    #[oai(
        path = "/uploads",
        method = "options",
        operation_id = "tus_options",
        transform = "tus_protocol"
    )]
    async fn options(&self, state: Data<&AppState>) -> OptionsResponse {
        OptionsResponse::Ok(
            tus::VERSION.to_owned(),
            tus::EXTENSIONS.to_owned(),
            state.settings().max_upload_bytes,
            tus::CHECKSUM_ALGORITHMS.to_owned(),
        )
    }

    /// Create a resumable upload (admin)
    ///
    /// tus `creation`: `Upload-Length` (at most `Tus-Max-Size`, else 413 and nothing is
    /// created) and `Upload-Metadata` with a base64 `filename` (required), and optionally
    /// `filetype`, `expires_at` (RFC 3339) and `max_downloads` for the file it becomes. With
    /// `creation-with-upload`, the body (`application/offset+octet-stream`) is the first chunk.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/uploads",
        method = "post",
        operation_id = "create_upload",
        transform = "tus_protocol"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Tus-Resumable")] _version: Header<String>,
        #[oai(name = "Upload-Length")] length: Header<Option<String>>,
        #[oai(name = "Upload-Defer-Length")] defer: Header<Option<String>>,
        #[oai(name = "Upload-Metadata")] metadata: Header<Option<String>>,
        /// For data sent with the creation: `sha1|sha256 <base64 digest>`.
        #[oai(name = "Upload-Checksum")]
        checksum: Header<Option<String>>,
        body: Chunk<false>,
    ) -> TusResult<CreateUploadResponse> {
        auth.0.require_admin()?;
        let uploads = uploads(&state);
        let created = uploads
            .create(
                &auth.0,
                NewUpload {
                    length: length.0.as_deref(),
                    defer_length: defer.0.is_some(),
                    metadata: metadata.0.as_deref(),
                    data_length: body.content_length.filter(|_| body.body.is_some()),
                },
            )
            .await?;
        let location = service::location(&created.id);
        let status = match body.body {
            None => Status::of(&created),
            Some(data) => {
                let chunk = service::Chunk {
                    offset: Some("0".into()),
                    checksum: checksum.0,
                    content_length: body.content_length,
                    body: Some(data),
                };
                match uploads
                    .append(auth.0.clone(), created.id.clone(), chunk)
                    .await
                {
                    Ok(Appended::Stored(s)) => s,
                    // Rejected data: the upload goes too, so nothing is left behind.
                    Ok(Appended::ChecksumMismatch) => {
                        uploads.discard(&created.id).await;
                        return Err(checksum_mismatch());
                    }
                    Err(e) => {
                        uploads.discard(&created.id).await;
                        return Err(e.into());
                    }
                }
            }
        };
        Ok(CreateUploadResponse::Created(
            location,
            status.offset,
            expires(&status),
            status.file_id,
        ))
    }

    /// Where an upload stands (admin)
    ///
    /// tus `HEAD`: `Upload-Offset` (resume from there), `Upload-Length`, `Upload-Metadata` as
    /// sent, `Upload-Expires`. A complete upload has `Switchboard-File-Id`.
    #[oai(
        path = "/uploads/:id",
        method = "head",
        operation_id = "head_upload",
        transform = "tus_protocol"
    )]
    async fn head(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Tus-Resumable")] _version: Header<String>,
        id: Path<String>,
    ) -> TusResult<HeadUploadResponse> {
        auth.0.require_admin()?;
        let s = uploads(&state).status(&auth.0, &id).await?;
        Ok(HeadUploadResponse::Ok(
            s.offset,
            s.length,
            Some(s.metadata.clone()).filter(|m| !m.is_empty()),
            expires(&s),
            s.file_id,
            "no-store".to_owned(),
        ))
    }

    /// Send bytes of an upload (admin)
    ///
    /// tus `PATCH`: `Upload-Offset` must be the upload's offset (else 409); the body is
    /// appended. If the connection drops, the bytes received are kept (unless
    /// `Upload-Checksum` was sent). `Upload-Checksum` that does not match → 460, nothing kept;
    /// more bytes than the upload has left → 413, nothing kept.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/uploads/:id",
        method = "patch",
        operation_id = "patch_upload",
        transform = "tus_protocol"
    )]
    async fn patch(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Tus-Resumable")] _version: Header<String>,
        id: Path<String>,
        #[oai(name = "Upload-Offset")] offset: Header<Option<String>>,
        /// `sha1|sha256 <base64 digest>` of this request's body.
        #[oai(name = "Upload-Checksum")]
        checksum: Header<Option<String>>,
        body: Chunk<true>,
    ) -> TusResult<PatchUploadResponse> {
        auth.0.require_admin()?;
        let chunk = service::Chunk {
            offset: offset.0,
            checksum: checksum.0,
            content_length: body.content_length,
            body: body.body,
        };
        let outcome = uploads(&state).append(auth.0, id.0, chunk).await?;
        patch_response(outcome)
    }

    /// Delete an upload (admin)
    ///
    /// tus `termination`: the upload and every stored byte of it go; 404 from then on.
    #[oai(
        path = "/uploads/:id",
        method = "delete",
        operation_id = "terminate_upload",
        transform = "tus_protocol"
    )]
    async fn terminate(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Tus-Resumable")] _version: Header<String>,
        id: Path<String>,
    ) -> TusResult<TerminateUploadResponse> {
        auth.0.require_admin()?;
        uploads(&state).terminate(&auth.0, &id).await?;
        Ok(TerminateUploadResponse::Deleted)
    }

    /// List unfinished uploads
    ///
    /// The caller's (an admin sees everyone's), newest first, with how far each got, so that a
    /// client can offer to resume them. Not a tus request: no `Tus-Resumable` needed.
    #[oai(path = "/uploads", method = "get", operation_id = "list_uploads")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> ApiResult<Json<UploadPage>> {
        let paging = PageParams::parse(page.0, per_page.0)?;
        let (items, total) = uploads(&state).list(&auth.0, paging).await?;
        Ok(Json(UploadPage {
            items: items.into_iter().map(Upload::from).collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }
}
