//! `POST /api/files/import` and `/api/tasks`: thin handlers over [`super::import`].
//!
//! Tasks are rows shared by every instance (see [`super::tasks`]): any instance lists, cancels
//! and retries them.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    import::{self, ImportRequest},
    tasks::{Status, TaskSnapshot},
};
use crate::{
    auth::guard::BearerAuth, error::ApiResult, pagination::PageParams, state::AppState,
    strict::StrictString, tags::ApiTags,
};

pub struct TasksApi;

/// Import a file from a URL.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ImportFileRequest {
    /// An `http` or `https` URL.
    pub url: StrictString,
    /// The file's name; default: the response's `Content-Disposition` filename, else the last
    /// segment of the (final) URL's path.
    pub name: Option<StrictString>,
    /// Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// At least 1.
    pub max_downloads: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum TaskKind {
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum TaskStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    /// The server running it stopped (crashed or was killed) before it finished.
    Interrupted,
}

impl From<Status> for TaskStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => Self::Queued,
            Status::Running => Self::Running,
            Status::Completed => Self::Completed,
            Status::Failed => Self::Failed,
            Status::Cancelled => Self::Cancelled,
            Status::Interrupted => Self::Interrupted,
        }
    }
}

/// A server-side background task (for now: URL imports).
#[derive(Debug, Clone, Object)]
pub struct Task {
    /// UUIDv7.
    pub task_id: String,
    pub kind: TaskKind,
    pub status: TaskStatus,
    /// The URL to import (a password in it is shown as `***`).
    pub url: String,
    /// The file's name: as requested, else known once the server has answered.
    #[oai(nullable)]
    pub name: Option<String>,
    /// The id the file will have (allocated up front).
    pub file_id: String,
    pub bytes_received: u64,
    /// The body's length if the server declared it.
    #[oai(nullable)]
    pub bytes_total: Option<u64>,
    /// Why the task failed.
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Id of the user who started it.
    pub created_by: String,
    /// When the task last changed (status or progress; progress is recorded once a second).
    pub updated_at: DateTime<Utc>,
    /// Id of the server process running it (changes at every start of that server).
    pub instance: String,
    /// The task this one retries.
    #[oai(nullable)]
    pub retry_of: Option<String>,
}

impl From<TaskSnapshot> for Task {
    fn from(t: TaskSnapshot) -> Self {
        Self {
            task_id: t.task_id,
            kind: TaskKind::Import,
            status: t.status.into(),
            url: t.url,
            name: t.name,
            file_id: t.file_id,
            bytes_received: t.bytes_received,
            bytes_total: t.bytes_total,
            error: t.error,
            created_at: t.created_at,
            created_by: t.created_by,
            updated_at: t.updated_at,
            instance: t.instance,
            retry_of: t.retry_of,
        }
    }
}

/// A page of tasks, newest first.
#[derive(Debug, Clone, Object)]
pub struct TaskPage {
    pub items: Vec<Task>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(ApiResponse)]
pub enum ImportResponse {
    /// Accepted; the import runs in the background. `Location` is the task's URL.
    #[oai(status = 202)]
    Accepted(Json<Task>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum RetryResponse {
    /// Accepted: a new task imports the same URL. `Location` is its URL.
    #[oai(status = 202)]
    Accepted(Json<Task>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum CancelResponse {
    /// Cancelled (or already was).
    #[oai(status = 204)]
    Cancelled,
}

#[OpenApi]
impl TasksApi {
    /// Import a file from a URL (admin)
    ///
    /// The server fetches the URL in the background (202 with the task; follow it with
    /// `GET /api/tasks/{id}` or the `download.*` events with `via: "import"`). Only `http` and
    /// `https`; redirects are followed up to `--import-max-redirects`. Unless the server runs
    /// with `--import-allow-private`, a host that is or resolves to a loopback, private,
    /// link-local, multicast, documentation or otherwise non-public address is refused with 422
    /// `url_forbidden`, and so is every redirect to one. A body over the upload limit fails the
    /// task and leaves nothing behind.
    #[oai(
        path = "/files/import",
        method = "post",
        operation_id = "import_file",
        tag = "ApiTags::Files"
    )]
    async fn import(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<ImportFileRequest>,
    ) -> ApiResult<ImportResponse> {
        auth.0.require_admin()?;
        let request = ImportRequest {
            url: body.0.url.into_inner(),
            name: body.0.name.map(StrictString::into_inner),
            expires_at: body.0.expires_at,
            max_downloads: body.0.max_downloads,
        };
        let task = import::start(&state, &auth.0, request).await?;
        let location = format!("/api/tasks/{}", task.task_id);
        Ok(ImportResponse::Accepted(Json(task.into()), location))
    }

    /// List tasks
    ///
    /// Every instance's tasks, newest first: queued and running ones, and finished ones for
    /// 10 minutes (at most 200 of those). A task whose server stopped is `interrupted`.
    #[oai(
        path = "/tasks",
        method = "get",
        operation_id = "list_tasks",
        tag = "ApiTags::Tasks"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> ApiResult<Json<TaskPage>> {
        let paging = PageParams::parse(page.0, per_page.0)?;
        let (items, total) = state.imports().list(paging).await?;
        Ok(Json(TaskPage {
            items: items.into_iter().map(Task::from).collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }

    /// Get a task
    #[oai(
        path = "/tasks/:id",
        method = "get",
        operation_id = "get_task",
        tag = "ApiTags::Tasks"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<Task>> {
        Ok(Json(state.imports().get(&id).await?.into()))
    }

    /// Cancel a task (admin)
    ///
    /// Stops a queued or running import, whichever server runs it (within about a second); its
    /// file never appears. Cancelling a cancelled task again is a no-op (204). A task that has
    /// completed, failed or was interrupted — or has finished downloading and is storing the
    /// file — cannot be cancelled: 409 `task_finished` (delete the file instead).
    #[oai(
        path = "/tasks/:id",
        method = "delete",
        operation_id = "cancel_task",
        tag = "ApiTags::Tasks"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<CancelResponse> {
        auth.0.require_admin()?;
        state.imports().cancel(&id).await?;
        Ok(CancelResponse::Cancelled)
    }

    /// Retry a task (admin)
    ///
    /// Starts a new import of a `failed`, `cancelled` or `interrupted` task's URL, with its name
    /// and the file's `expires_at` and `max_downloads` (checked again, as for a new import):
    /// 202 with the new task, whose `retry_of` is this one. Any other status: 409
    /// `task_not_retryable`.
    #[oai(
        path = "/tasks/:id/retry",
        method = "post",
        operation_id = "retry_task",
        tag = "ApiTags::Tasks"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<RetryResponse> {
        auth.0.require_admin()?;
        let task = import::retry(&state, &auth.0, &id).await?;
        let location = format!("/api/tasks/{}", task.task_id);
        Ok(RetryResponse::Accepted(Json(task.into()), location))
    }
}
