//! `POST /api/files`: a multipart upload streamed straight into a temp file (hashed on the way),
//! published under its final key once complete and durable, and only then given its row.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use bytes::Bytes;
use futures_util::TryStreamExt;
use poem::{Body, Request, RequestBody};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef},
};

use super::{
    service::{self, Limits, NewFile},
    transfer::Transfer,
};
use crate::{
    auth::sessions::Principal,
    error::{Error, Result},
    state::AppState,
    storage::Storage,
};

/// Bytes of the file kept for content sniffing.
const SNIFF_BYTES: usize = 8 * 1024;
/// Largest accepted text field (`name`, `expires_at`, `max_downloads`).
const MAX_TEXT_FIELD: usize = 4 * 1024;
/// Room for multipart framing and text fields on top of the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// The raw multipart request body, taken unread so it can be streamed. Declares the form's
/// fields for the OpenAPI document.
pub struct MultipartUpload {
    pub content_type: String,
    pub content_length: Option<u64>,
    pub body: Body,
}

impl Payload for MultipartUpload {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .get(..19)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
    }

    fn schema_ref() -> MetaSchemaRef {
        let string = |format: Option<&'static str>, description: &'static str| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format,
                description: Some(description),
                ..MetaSchema::new("string")
            }))
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["file"],
            properties: vec![
                (
                    "file",
                    string(Some("binary"), "The file; its part's filename names it."),
                ),
                ("name", string(None, "Overrides the part's filename.")),
                (
                    "expires_at",
                    string(Some("date-time"), "Stop serving after this instant."),
                ),
                (
                    "max_downloads",
                    MetaSchemaRef::Inline(Box::new(MetaSchema {
                        format: Some("int64"),
                        description: Some("Completed downloads allowed, at least 1."),
                        ..MetaSchema::new("integer")
                    })),
                ),
            ],
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for MultipartUpload {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Self {
            content_type: header(poem::http::header::CONTENT_TYPE).unwrap_or_default(),
            content_length: header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            body: body.take()?,
        })
    }
}

/// What `impl_apirequest_for_payload!` generates for poem-openapi's own payloads: the body is
/// described in the document and parsed only for a matching content type (415 otherwise).
impl<'a> poem_openapi::ApiExtractor<'a> for MultipartUpload {
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: Self::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: poem_openapi::ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// Receives an upload and creates the file.
pub async fn receive(
    state: &AppState,
    actor: &Principal,
    upload: MultipartUpload,
) -> Result<entity::file::Model> {
    let max = state.settings().max_upload_bytes;
    let boundary = multer::parse_boundary(&upload.content_type)
        .map_err(|_| Error::BadRequest("multipart/form-data needs a boundary".into()))?;
    if upload
        .content_length
        .is_some_and(|len| len > max.saturating_add(MULTIPART_OVERHEAD))
    {
        return Err(too_large(max));
    }

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let stream = upload
        .body
        .into_bytes_stream()
        .inspect_ok(move |chunk: &Bytes| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        });
    let mut multipart = multer::Multipart::new(stream, boundary);

    let file_id = uuid::Uuid::now_v7().to_string();
    // Started when the file part begins, so that watchers see its name.
    let mut transfer: Option<Transfer> = None;
    let mut fields = Fields::default();
    let mut file: Option<Received> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "file" if file.is_none() => {
                let part_name = field.file_name().map(str::to_owned);
                let shown = fields.name.as_deref().or(part_name.as_deref());
                let transfer = transfer.insert(Transfer::upload(
                    state.realtime(),
                    uuid::Uuid::now_v7().to_string(),
                    &file_id,
                    shown.and_then(super::naming::sanitize).as_deref(),
                    Some(actor.into()),
                    upload.content_length,
                ));
                let declared = field.content_type().map(|m| m.to_string());
                let mut writer = state.storage().temp_writer();
                let mut head = Vec::with_capacity(SNIFF_BYTES);
                let mut size = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    size += chunk.len() as u64;
                    if size > max {
                        transfer.set_abort_reason("too_large");
                        return Err(too_large(max));
                    }
                    if head.len() < SNIFF_BYTES {
                        let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                        head.extend_from_slice(&chunk[..take]);
                    }
                    writer.write(chunk).await?;
                    let now = received.load(Ordering::Relaxed);
                    transfer.advance(now.saturating_sub(transfer.bytes()));
                }
                file = Some(Received {
                    part_name,
                    declared,
                    head,
                    writer,
                });
            }
            "file" => return Err(Error::field("file", "send exactly one file")),
            "name" => fields.name = Some(text(&mut field).await?),
            "expires_at" => fields.expires_at = Some(text(&mut field).await?),
            "max_downloads" => fields.max_downloads = Some(text(&mut field).await?),
            _ => while field.chunk().await.map_err(multipart_error)?.is_some() {},
        }
    }
    if let Some(t) = transfer.as_mut() {
        t.set_abort_reason("rejected");
    }
    let Some(file) = file else {
        return Err(Error::field("file", "a part named 'file' is required"));
    };
    let name_source = fields
        .name
        .clone()
        .or(file.part_name.clone())
        .unwrap_or_else(|| "upload".into());
    let name = service::clean_name(&name_source, "name")?;
    let limits = fields.limits()?;
    service::validate_limits(&limits)?;

    if let Some(t) = transfer.as_mut() {
        t.set_abort_reason("failed");
    }
    let staged = file.writer.finish().await?;
    let key = Storage::key_for(&file_id);
    let content_type = super::naming::content_type(file.declared.as_deref(), &file.head, &name);
    let new = NewFile {
        id: file_id,
        name,
        content_type,
        size: staged.size,
        sha256: staged.sha256.clone(),
        storage_key: key.clone(),
        expires_at: limits.expires_at,
        max_downloads: limits.max_downloads,
    };
    state.storage().publish(staged, &key).await?;
    let model = service::create(state.writer(), state.storage(), Some(actor), new).await?;
    if let Some(t) = transfer {
        t.finish();
    }
    Ok(model)
}

struct Received {
    part_name: Option<String>,
    declared: Option<String>,
    head: Vec<u8>,
    writer: crate::storage::TempWriter,
}

/// The optional text fields of an upload (also `Upload-Metadata` of a resumable one).
#[derive(Default)]
pub struct Fields {
    pub name: Option<String>,
    pub expires_at: Option<String>,
    pub max_downloads: Option<String>,
}

impl Fields {
    /// Parses `expires_at` and `max_downloads` (every problem at once); not yet validated.
    pub fn limits(&self) -> Result<Limits> {
        let mut problems = std::collections::BTreeMap::new();
        let expires_at = self
            .expires_at
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let expires_at = match expires_at.map(chrono::DateTime::parse_from_rfc3339) {
            None => None,
            Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
            Some(Err(_)) => {
                problems.insert("expires_at".into(), "must be an RFC 3339 timestamp".into());
                None
            }
        };
        let max = self
            .max_downloads
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let max_downloads = match max.map(str::parse::<i64>) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                problems.insert("max_downloads".into(), "must be an integer".into());
                None
            }
        };
        if problems.is_empty() {
            Ok(Limits {
                expires_at,
                max_downloads,
            })
        } else {
            Err(Error::Validation(problems))
        }
    }
}

async fn text(field: &mut multer::Field<'_>) -> Result<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_TEXT_FIELD {
            let name = field.name().unwrap_or_default().to_owned();
            return Err(Error::field(&name, "too long"));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| {
        let name = field.name().unwrap_or_default().to_owned();
        Error::field(&name, "must be UTF-8 text")
    })
}

pub fn too_large(max: u64) -> Error {
    Error::PayloadTooLarge(format!(
        "the file is larger than the {max}-byte upload limit"
    ))
}

fn multipart_error(e: multer::Error) -> Error {
    match e {
        multer::Error::StreamReadFailed(_) => {
            Error::BadRequest("the upload was interrupted".into())
        }
        other => Error::BadRequest(format!("malformed multipart body: {other}")),
    }
}
