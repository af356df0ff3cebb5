//! `/api/files`, `/api/links` and the public `/d/{token}`: thin handlers over the services.

use poem::{Body, IntoResponse, Request, Response, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::{Json, Payload},
    registry::{MetaSchema, MetaSchemaRef},
};

use super::{
    archive::{self, Bundle, Selection},
    download::{self, Conditions, Outcome, Source},
    dto::{
        ArchiveRequest, ArchiveUrl, CreateLinkRequest, DownloadUrl, File, FilePage, Link, LinkPage,
        UpdateFileRequest,
    },
    service::{self, FileChanges, Limits, ListQuery},
    upload::{self, MultipartUpload},
};
use crate::{
    auth::guard::BearerAuth,
    conditional::{etag, if_none_match_hits, parse_if_match},
    error::{ApiError, ApiResult},
    pagination::PageParams,
    state::AppState,
    tags::ApiTags,
};

pub struct FilesApi;

#[derive(ApiResponse)]
pub enum GetFileResponse {
    /// The file's metadata; `ETag` carries its version.
    #[oai(status = 200)]
    Ok(Json<File>, #[oai(header = "ETag")] String),
    /// `If-None-Match` matched the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum CreateFileResponse {
    /// Stored; `Location` is the new file's URL.
    #[oai(status = 201)]
    Created(
        Json<File>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum UpdateFileResponse {
    /// Updated (version incremented).
    #[oai(status = 200)]
    Ok(Json<File>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum DownloadUrlResponse {
    /// A URL valid for a short while.
    #[oai(status = 200)]
    Ok(Json<DownloadUrl>),
}

#[derive(ApiResponse)]
pub enum CreateLinkResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Link>),
}

/// A file's bytes. They go out with the file's own `Content-Type` (the header of
/// [`DownloadResponse`]), so the document lists the media type as `*/*`, not
/// `application/octet-stream`.
pub struct FileBytes(pub Body);

impl Payload for FileBytes {
    const CONTENT_TYPE: &'static str = "*/*";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            ..MetaSchema::new("string")
        }))
    }
}

impl IntoResponse for FileBytes {
    fn into_response(self) -> Response {
        Response::builder().body(self.0)
    }
}

/// A download: the whole file, one range of it, or "not modified".
#[derive(ApiResponse)]
pub enum DownloadResponse {
    /// The whole file.
    #[oai(status = 200)]
    Ok(
        FileBytes,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Last-Modified")] String,
        #[oai(header = "Accept-Ranges")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// The requested range (`Content-Range: bytes a-b/size`).
    #[oai(status = 206)]
    Partial(
        FileBytes,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Content-Range")] String,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Last-Modified")] String,
        #[oai(header = "Accept-Ranges")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// `If-None-Match` / `If-Modified-Since` matched.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "ETag")] String,
        #[oai(header = "Last-Modified")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// Downloads are counted, so shared caches must not answer for us.
const CACHE_CONTROL: &str = "private, no-cache";

/// A ZIP archive's bytes, streamed as they are built.
pub struct ZipBytes(pub Body);

impl Payload for ZipBytes {
    const CONTENT_TYPE: &'static str = "application/zip";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            ..MetaSchema::new("string")
        }))
    }
}

impl IntoResponse for ZipBytes {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum ArchiveResponse {
    /// The archive, built while it is sent (so no `Content-Length`).
    #[oai(status = 200)]
    Ok(
        ZipBytes,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

impl From<Bundle> for ArchiveResponse {
    fn from(b: Bundle) -> Self {
        Self::Ok(ZipBytes(b.body), b.disposition, CACHE_CONTROL.to_owned())
    }
}

#[derive(ApiResponse)]
pub enum ArchiveUrlResponse {
    /// A URL valid for a short while.
    #[oai(status = 200)]
    Ok(Json<ArchiveUrl>),
}

fn selection(body: ArchiveRequest) -> crate::error::Result<Selection> {
    let ids = body.ids.into_iter().map(|id| id.into_inner()).collect();
    Selection::parse(ids, body.name.as_deref())
}

impl From<Outcome> for DownloadResponse {
    fn from(o: Outcome) -> Self {
        let cache = || CACHE_CONTROL.to_owned();
        let ranges = || "bytes".to_owned();
        match o {
            Outcome::NotModified(m) => Self::NotModified(m.etag, m.last_modified, cache()),
            Outcome::Full { meta, length, body } => Self::Ok(
                FileBytes(body),
                meta.content_type,
                length,
                meta.disposition,
                meta.etag,
                meta.last_modified,
                ranges(),
                cache(),
            ),
            Outcome::Partial {
                meta,
                length,
                content_range,
                body,
            } => Self::Partial(
                FileBytes(body),
                meta.content_type,
                length,
                content_range,
                meta.disposition,
                meta.etag,
                meta.last_modified,
                ranges(),
                cache(),
            ),
        }
    }
}

fn conditions(req: &Request) -> Conditions<'_> {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    Conditions {
        range: h("range"),
        if_range: h("if-range"),
        if_none_match: h("if-none-match"),
        if_modified_since: h("if-modified-since"),
    }
}

/// Absent → keep (`None`), `null` → clear (`Some(None)`), a value → set.
fn maybe<T>(v: poem_openapi::types::MaybeUndefined<T>) -> Option<Option<T>> {
    use poem_openapi::types::MaybeUndefined;
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(t)),
    }
}

fn is_head(req: &Request) -> bool {
    req.method() == poem::http::Method::HEAD
}

use crate::links::public_base;

#[OpenApi(tag = "ApiTags::Files")]
impl FilesApi {
    /// List files
    ///
    /// Paged; `q` searches names (case-insensitive substring); `sort` is one of name, size,
    /// content_type, created_at, updated_at, download_count, expires_at, with `-` for descending
    /// (default `-created_at`). `next` is a cursor for the following page: pass it as `after`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/files", method = "get", operation_id = "list_files")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
        q: Query<Option<String>>,
        sort: Query<Option<String>>,
        /// Cursor from the previous page's `next`; replaces `page`.
        after: Query<Option<String>>,
        /// Only files uploaded by this user id.
        uploaded_by: Query<Option<String>>,
    ) -> ApiResult<Json<FilePage>> {
        let paging = PageParams::parse(page.0, per_page.0)?;
        let query = ListQuery {
            q: q.0,
            uploaded_by: uploaded_by.0,
            sort: sort.0,
            after: after.0,
        };
        let listed =
            service::list(state.db().conn(), &state.totals().files, &query, paging).await?;
        Ok(Json(FilePage {
            items: listed.items.into_iter().map(File::from).collect(),
            total: listed.total,
            page: if query.after.is_some() {
                1
            } else {
                paging.page
            },
            per_page: paging.per_page,
            next: listed.next,
        }))
    }

    /// Upload a file (admin)
    ///
    /// `multipart/form-data` with a `file` part, streamed to disk and hashed on the way; larger
    /// than `--max-upload-bytes` → 413 and nothing is kept. Optional parts: `name`,
    /// `expires_at`, `max_downloads`.
    #[oai(path = "/files", method = "post", operation_id = "upload_file")]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: MultipartUpload,
    ) -> ApiResult<CreateFileResponse> {
        auth.0.require_admin()?;
        let file = upload::receive(&state, &auth.0, body).await?;
        let location = format!("/api/files/{}", file.id);
        let tag = etag(file.version);
        Ok(CreateFileResponse::Created(
            Json(file.into()),
            location,
            tag,
        ))
    }

    /// Get a file's metadata
    #[oai(path = "/files/:id", method = "get", operation_id = "get_file")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<GetFileResponse> {
        let file = service::get(state.db().conn(), &id).await?;
        let tag = etag(file.version);
        if if_none_match_hits(if_none_match.as_deref(), file.version) {
            return Ok(GetFileResponse::NotModified(tag));
        }
        Ok(GetFileResponse::Ok(Json(file.into()), tag))
    }

    /// Update a file's metadata (admin)
    ///
    /// Partial; `null` clears `expires_at` or `max_downloads`. With `If-Match: "<version>"` a
    /// stale version is refused with 412 and the current file.
    #[oai(path = "/files/:id", method = "patch", operation_id = "update_file")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<UpdateFileRequest>,
    ) -> ApiResult<UpdateFileResponse> {
        auth.0.require_admin()?;
        let expected = parse_if_match(if_match.as_deref())?;
        let changes = FileChanges {
            name: body.0.name.map(|n| n.into_inner()),
            expires_at: maybe(body.0.expires_at),
            max_downloads: maybe(body.0.max_downloads),
        };
        let file = service::update(state.writer(), &auth.0, &id, changes, expected).await?;
        let tag = etag(file.version);
        Ok(UpdateFileResponse::Ok(Json(file.into()), tag))
    }

    /// Delete a file (admin)
    ///
    /// Removes the row, its share links and the stored bytes.
    #[oai(path = "/files/:id", method = "delete", operation_id = "delete_file")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<DeletedResponse> {
        auth.0.require_admin()?;
        service::delete(state.writer(), state.storage(), Some(&auth.0), &id).await?;
        Ok(DeletedResponse::Deleted)
    }

    /// Download a file
    ///
    /// GET or HEAD. Single `Range` → 206, unsatisfiable → 416; `If-Range`, `If-None-Match` and
    /// `If-Modified-Since` are honoured. Counted once its last byte is sent; an expired or
    /// exhausted file → 410.
    #[oai(
        path = "/files/:id/download",
        method = "get",
        operation_id = "download_file"
    )]
    async fn download(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadResponse> {
        let source = Source::Api {
            file_id: &id,
            user: &auth.0,
        };
        let outcome = download::serve(&state, source, is_head(req), conditions(req)).await?;
        Ok(outcome.into())
    }

    /// Download headers only
    ///
    /// The headers `GET` would send, without the body; never counted.
    #[oai(
        path = "/files/:id/download",
        method = "head",
        operation_id = "head_file"
    )]
    async fn download_head(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadResponse> {
        self.download(state, auth, id, req).await
    }

    /// Get a short-lived download URL
    ///
    /// For browsers, which cannot send `Authorization` on a plain navigation: the URL downloads
    /// this file (GET or HEAD, with ranges) for two minutes, as the calling user, and stops
    /// working at once if that session ends. Counted like `/files/{id}/download`.
    #[oai(
        path = "/files/:id/download-url",
        method = "post",
        operation_id = "create_download_url"
    )]
    async fn download_url(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadUrlResponse> {
        let file = service::get(state.db().conn(), &id).await?;
        let (ticket, exp) =
            state
                .jwt()
                .issue_ticket(&auth.0.user_id, &auth.0.session_id, &file.id)?;
        let expires_at = chrono::DateTime::from_timestamp(exp, 0)
            .ok_or_else(|| crate::error::Error::Internal("ticket expiry out of range".into()))?;
        Ok(DownloadUrlResponse::Ok(Json(DownloadUrl {
            url: format!("{}/api/downloads/{ticket}", public_base(&state, req)),
            expires_at,
        })))
    }

    /// Download with a download URL (no `Authorization` header)
    ///
    /// The ticket from `POST /files/{id}/download-url`; same headers, ranges and counting as
    /// `/files/{id}/download`. An expired ticket or an ended session → 401.
    #[oai(
        path = "/downloads/:ticket",
        method = "get",
        operation_id = "download_with_ticket"
    )]
    async fn download_ticket(
        &self,
        state: Data<&AppState>,
        ticket: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadResponse> {
        let claims = state.jwt().verify_ticket(&ticket)?;
        let (user, _) =
            crate::auth::sessions::principal(state.db().conn(), &claims.sid, &claims.sub).await?;
        let source = Source::Api {
            file_id: &claims.fid,
            user: &user,
        };
        let outcome = download::serve(&state, source, is_head(req), conditions(req)).await?;
        Ok(outcome.into())
    }

    /// Download-URL headers only
    #[oai(
        path = "/downloads/:ticket",
        method = "head",
        operation_id = "head_with_ticket"
    )]
    async fn download_ticket_head(
        &self,
        state: Data<&AppState>,
        ticket: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadResponse> {
        self.download_ticket(state, ticket, req).await
    }

    /// Download several files as one ZIP archive
    ///
    /// `{ids, name?}`: 1 to 1000 distinct file ids. Every file is checked before the first byte
    /// (unknown → 404, expired or exhausted → 410, limited and all in flight → 429); then the
    /// archive streams with constant memory (stored entries, data descriptors, ZIP64 only when
    /// needed; names sanitised and made unique). Each file counts as one download, all of them
    /// only once the archive's last byte is sent.
    #[oai(
        path = "/files/archive",
        method = "post",
        operation_id = "download_archive"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<ArchiveRequest>,
    ) -> ApiResult<ArchiveResponse> {
        let bundle = archive::open(&state, &auth.0, selection(body.0)?).await?;
        Ok(bundle.into())
    }

    /// Get a short-lived ZIP archive URL
    ///
    /// The same body and checks as `POST /files/archive`; the URL streams that archive with a
    /// plain GET for two minutes, as the calling user, until that session ends.
    #[oai(
        path = "/files/archive-url",
        method = "post",
        operation_id = "create_archive_url"
    )]
    async fn archive_url(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<ArchiveRequest>,
        req: &Request,
    ) -> ApiResult<ArchiveUrlResponse> {
        let selection = selection(body.0)?;
        let (ticket, expires_at) = archive::issue_ticket(&state, &auth.0, &selection).await?;
        Ok(ArchiveUrlResponse::Ok(Json(ArchiveUrl {
            url: format!("{}/api/archives/{ticket}", public_base(&state, req)),
            expires_at,
        })))
    }

    /// Download a ZIP archive with its URL (no `Authorization` header)
    ///
    /// The ticket from `POST /files/archive-url`; the same archive and counting as
    /// `POST /files/archive`. An expired ticket, another kind of ticket or an ended session → 401.
    #[oai(
        path = "/archives/:ticket",
        method = "get",
        operation_id = "download_archive_with_ticket"
    )]
    async fn archive_ticket(
        &self,
        state: Data<&AppState>,
        ticket: Path<String>,
    ) -> ApiResult<ArchiveResponse> {
        let (user, selection) = archive::redeem_ticket(&state, &ticket).await?;
        Ok(archive::open(&state, &user, selection).await?.into())
    }

    /// Create a share link (admin)
    #[oai(
        path = "/files/:id/links",
        method = "post",
        operation_id = "create_link"
    )]
    async fn create_link(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        req: &Request,
        body: Json<CreateLinkRequest>,
    ) -> ApiResult<CreateLinkResponse> {
        auth.0.require_admin()?;
        let limits = Limits {
            expires_at: body.0.expires_at,
            max_downloads: body.0.max_downloads,
        };
        let link = service::create_link(state.writer(), &auth.0, &id, limits).await?;
        Ok(CreateLinkResponse::Created(Json(Link::from_model(
            link,
            &public_base(&state, req),
        ))))
    }

    /// List a file's share links
    #[oai(path = "/files/:id/links", method = "get", operation_id = "list_links")]
    async fn list_links(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        id: Path<String>,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
        req: &Request,
    ) -> ApiResult<Json<LinkPage>> {
        let paging = PageParams::parse(page.0, per_page.0)?;
        let (items, total) = service::list_links(state.db().conn(), &id, paging).await?;
        let base = public_base(&state, req);
        Ok(Json(LinkPage {
            items: items
                .into_iter()
                .map(|l| Link::from_model(l, &base))
                .collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }

    /// Delete a share link (admin)
    ///
    /// The link answers 410 from then on.
    #[oai(
        path = "/links/:token",
        method = "delete",
        operation_id = "delete_link"
    )]
    async fn delete_link(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        token: Path<String>,
    ) -> ApiResult<DeletedResponse> {
        auth.0.require_admin()?;
        service::delete_link(state.writer(), &token).await?;
        Ok(DeletedResponse::Deleted)
    }

    /// Download through a share link (no authentication)
    ///
    /// Served at `/d/{token}` (and here). Same headers and range support as
    /// `/files/{id}/download`; an expired, exhausted or deleted link → 410.
    #[oai(path = "/d/:token", method = "get", operation_id = "download_shared")]
    async fn download_shared(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadResponse> {
        shared(&state, &token, req).await.map_err(Into::into)
    }

    /// Share-link download headers only
    #[oai(path = "/d/:token", method = "head", operation_id = "head_shared")]
    async fn download_shared_head(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
        req: &Request,
    ) -> ApiResult<DownloadResponse> {
        shared(&state, &token, req).await.map_err(Into::into)
    }
}

async fn shared(
    state: &AppState,
    token: &str,
    req: &Request,
) -> crate::error::Result<DownloadResponse> {
    let outcome =
        download::serve(state, Source::Link { token }, is_head(req), conditions(req)).await?;
    Ok(outcome.into())
}

/// `GET|HEAD /d/{token}` outside `/api`: the short public URL.
#[poem::handler]
pub async fn public_download(
    state: Data<&AppState>,
    token: poem::web::Path<String>,
    req: &Request,
) -> poem::Response {
    use poem::IntoResponse;
    match shared(&state, &token, req).await {
        Ok(r) => r.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
