//! The raw `application/offset+octet-stream` body of a tus PATCH (or of a POST that carries
//! data), taken unread so it can be streamed; described in the OpenAPI document like
//! `files::upload::MultipartUpload`.

use poem::{Body, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef},
};

use super::tus::CHUNK_TYPE;

/// Bytes of an upload, from `Upload-Offset` on. `REQUIRED`: PATCH must send them; a POST may.
pub struct Chunk<const REQUIRED: bool> {
    pub content_length: Option<u64>,
    /// `None` for a POST without data.
    pub body: Option<Body>,
}

fn is_chunk_type(content_type: &str) -> bool {
    content_type
        .get(..CHUNK_TYPE.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(CHUNK_TYPE))
}

impl<const REQUIRED: bool> Payload for Chunk<REQUIRED> {
    const CONTENT_TYPE: &'static str = CHUNK_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        is_chunk_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            description: Some("The upload's bytes from `Upload-Offset` on."),
            ..MetaSchema::new("string")
        }))
    }
}

impl<const REQUIRED: bool> ParsePayload for Chunk<REQUIRED> {
    const IS_REQUIRED: bool = REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self {
            content_length: request
                .headers()
                .get(poem::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            body: Some(body.take()?),
        })
    }
}

impl<'a, const REQUIRED: bool> ApiExtractor<'a> for Chunk<REQUIRED> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: CHUNK_TYPE,
                schema: Self::schema_ref(),
            }],
            required: REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if is_chunk_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            // A creation without data (tus `creation`): any other body is not upload data.
            _ if !REQUIRED => Ok(Self {
                content_length: None,
                body: None,
            }),
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}
