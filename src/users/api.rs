//! `/api/users`: thin handlers — check access, call the service, shape the response.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use super::{
    dto::{CreateUserRequest, ImportBody, UpdateUserRequest, User, UserImportReport, UserPage},
    export::{self, Export, Format},
    import,
    service::{self, ListQuery},
};
use crate::{
    auth::guard::BearerAuth,
    conditional::{etag, if_none_match_hits, parse_if_match},
    error::ApiResult,
    pagination::PageParams,
    state::AppState,
    tags::ApiTags,
};

pub struct UsersApi;

#[derive(ApiResponse)]
pub enum GetUserResponse {
    /// The user; `ETag` carries its version.
    #[oai(status = 200)]
    Ok(Json<User>, #[oai(header = "ETag")] String),
    /// `If-None-Match` matched the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum CreateUserResponse {
    /// Created; `Location` is the new user's URL.
    #[oai(status = 201)]
    Created(
        Json<User>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum UpdateUserResponse {
    /// Updated (version incremented).
    #[oai(status = 200)]
    Ok(Json<User>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum ImportUsersResponse {
    /// The report: users created and rows skipped (dry run: that would be), and every problem
    /// of every row with its line.
    #[oai(status = 200)]
    Ok(Json<UserImportReport>),
}

#[derive(ApiResponse)]
pub enum DeleteUserResponse {
    /// Deleted; the user's sessions ended with it.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// List users
    ///
    /// Paged; `q` searches username, email and display name (case-insensitive substring); `sort`
    /// is one of username, email, display_name, role, created_at, updated_at, last_login_at, with
    /// `-` for descending. `next` is a cursor: pass it as `after` (with the same `sort` and
    /// filters) for the following page, at the cost of the first one however deep it is.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
        q: Query<Option<String>>,
        sort: Query<Option<String>>,
        /// `admin` or `viewer`
        role: Query<Option<String>>,
        disabled: Query<Option<bool>>,
        /// Cursor from the previous page's `next`; replaces `page`.
        after: Query<Option<String>>,
    ) -> ApiResult<Json<UserPage>> {
        let paging = PageParams::parse(page.0, per_page.0)?;
        let query = ListQuery {
            q: q.0,
            role: role.0,
            disabled: disabled.0,
            sort: sort.0,
            after: after.0,
        };
        let listed =
            service::list(state.db().conn(), &state.totals().users, &query, paging).await?;
        Ok(Json(UserPage {
            items: listed.items.into_iter().map(User::from).collect(),
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

    /// Export users (admin)
    ///
    /// Every user matching the list filters (`q`, `role`, `disabled`), streamed in id order as
    /// CSV with a header row (`format=csv`, the default) or JSON Lines (`format=jsonl`, one
    /// User per line). No password material unless `password_hashes=true`, which adds each
    /// user's stored hash (`password_hash`) for a lossless import into another server: keep such
    /// a file as secret as a backup.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/users/export", method = "get", operation_id = "export_users")]
    async fn export(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// `csv` (default) or `jsonl`
        format: Query<Option<String>>,
        q: Query<Option<String>>,
        /// `admin` or `viewer`
        role: Query<Option<String>>,
        disabled: Query<Option<bool>>,
        /// Also export each user's password hash (default false).
        password_hashes: Query<Option<bool>>,
    ) -> ApiResult<Export> {
        auth.0.require_admin()?;
        let format = Format::parse(format.0.as_deref())?;
        let hashes = password_hashes.0.unwrap_or(false);
        if hashes {
            // Offline-crackable material leaves the server: worth a line in the log.
            tracing::info!(actor = %auth.0.username, "user export with password hashes");
        }
        let query = ListQuery {
            q: q.0,
            role: role.0,
            disabled: disabled.0,
            sort: None,
            after: None,
        };
        Ok(export::start(state.db().conn().clone(), query, format, hashes).await?)
    }

    /// Import users (admin)
    ///
    /// The body is a CSV file with a header row (`format=csv`, the default; columns `username`,
    /// `email`, `display_name`, `role`, `disabled`, `password` or `password_hash`, any other
    /// ignored) or JSON Lines (`format=jsonl`, one object per line with those fields). Every
    /// row is checked and every problem reported with its line. `mode=all_or_nothing` (default)
    /// creates nothing if any row has a problem, else everything in one transaction;
    /// `mode=skip_invalid` creates the good rows and skips the others. `dry_run=true` checks
    /// and reports what would happen, writing nothing. Progress: `import.*` events.
    #[oai(path = "/users/import", method = "post", operation_id = "import_users")]
    async fn import(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// `csv` (default) or `jsonl`
        format: Query<Option<String>>,
        /// Check and report only (default false)
        dry_run: Query<Option<bool>>,
        /// `all_or_nothing` (default) or `skip_invalid`
        mode: Query<Option<String>>,
        body: ImportBody,
    ) -> ApiResult<ImportUsersResponse> {
        auth.0.require_admin()?;
        let options = import::Options::parse(format.0.as_deref(), dry_run.0, mode.0.as_deref())?;
        let report = import::run(state.writer(), state.hasher(), &auth.0, options, body).await?;
        Ok(ImportUsersResponse::Ok(Json(report)))
    }

    /// Get a user
    ///
    /// Answers 304 when `If-None-Match` carries the current `ETag`.
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<GetUserResponse> {
        let user = service::get(state.db().conn(), &id).await?;
        let tag = etag(user.version);
        if if_none_match_hits(if_none_match.as_deref(), user.version) {
            return Ok(GetUserResponse::NotModified(tag));
        }
        Ok(GetUserResponse::Ok(Json(user.into()), tag))
    }

    /// Create a user (admin)
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<CreateUserRequest>,
    ) -> ApiResult<CreateUserResponse> {
        auth.0.require_admin()?;
        let user =
            service::create(state.writer(), state.hasher(), Some(&auth.0), body.0.into()).await?;
        let location = format!("/api/users/{}", user.id);
        let tag = etag(user.version);
        Ok(CreateUserResponse::Created(
            Json(user.into()),
            location,
            tag,
        ))
    }

    /// Update a user (admin)
    ///
    /// Partial: only the fields sent change. With `If-Match: "<version>"` a stale version is
    /// refused with 412 and the current user, and nothing changes. Disabling, demoting or setting
    /// a password ends the user's sessions. You cannot delete, demote or disable yourself or the
    /// last enabled admin (409).
    #[oai(path = "/users/:id", method = "patch", operation_id = "update_user")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<UpdateUserRequest>,
    ) -> ApiResult<UpdateUserResponse> {
        auth.0.require_admin()?;
        let expected = parse_if_match(if_match.as_deref())?;
        let user = service::update(
            state.writer(),
            state.hasher(),
            &auth.0,
            &id,
            body.0.into(),
            expected,
        )
        .await?;
        let tag = etag(user.version);
        Ok(UpdateUserResponse::Ok(Json(user.into()), tag))
    }

    /// Delete a user (admin)
    #[oai(path = "/users/:id", method = "delete", operation_id = "delete_user")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<DeleteUserResponse> {
        auth.0.require_admin()?;
        service::delete(state.writer(), &auth.0, &id).await?;
        Ok(DeleteUserResponse::Deleted)
    }
}
