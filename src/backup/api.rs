//! `/api/backups*` (docs/API.md §8.1): thin handlers over [`super::service`]. Admins only.

use poem::{Body, IntoResponse, Response, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::Path,
    payload::Json,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
};

use super::{
    archive, create,
    dto::{Backup, BackupList},
};
use crate::{
    auth::guard::BearerAuth, error::ApiResult, realtime::event::Actor, state::AppState,
    tags::ApiTags,
};

pub struct BackupsApi;

#[derive(ApiResponse)]
pub enum Started {
    /// Accepted: the backup runs in the background; follow it with `GET /api/backups/{id}` or
    /// the `backup.*` events. `Location` is its URL.
    #[oai(status = 202)]
    Accepted(Json<Backup>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted, with the objects no other backup needs.
    #[oai(status = 204)]
    Done,
}

/// A backup as a tar archive.
pub struct TarDownload {
    id: String,
    length: u64,
    body: Body,
}

impl IntoResponse for TarDownload {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("application/x-tar")
            .header("content-length", self.length)
            .header(
                "content-disposition",
                format!(
                    "attachment; filename=\"switchboard-backup-{}.tar\"",
                    self.id
                ),
            )
            .body(self.body)
    }
}

impl ApiResponse for TarDownload {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The backup as a tar archive: `manifest.json`, the database file and `objects/<aa>/<sha256>`; `switchboard backup restore` takes it as it is.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/x-tar",
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
                        format: Some("binary"),
                        ..MetaSchema::new("string")
                    })),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(_: &mut Registry) {}
}

#[OpenApi(tag = "ApiTags::Backups")]
impl BackupsApi {
    /// Take a backup (admin)
    ///
    /// A consistent point in time of the database plus the file objects it references; objects
    /// an earlier backup in the same location holds are not copied again. Writers are not
    /// blocked. 409 `backup_running` while another backup runs.
    #[oai(path = "/backups", method = "post", operation_id = "create_backup")]
    async fn create(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Started> {
        auth.0.require_admin()?;
        let info = state.backups().start("api", Some(Actor::from(&auth.0)))?;
        let location = format!("/api/backups/{}", info.id);
        Ok(Started::Accepted(Json(info), location))
    }

    /// List backups (admin)
    ///
    /// Complete backups in the backup location, and this server's running and failed ones;
    /// newest first.
    #[oai(path = "/backups", method = "get", operation_id = "list_backups")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<BackupList>> {
        auth.0.require_admin()?;
        Ok(Json(BackupList {
            items: state.backups().list().await?,
        }))
    }

    /// One backup (admin)
    #[oai(path = "/backups/:id", method = "get", operation_id = "get_backup")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<Backup>> {
        auth.0.require_admin()?;
        Ok(Json(state.backups().get(&id).await?))
    }

    /// Download a backup (admin)
    ///
    /// A complete backup as one tar archive, streamed.
    #[oai(
        path = "/backups/:id/download",
        method = "get",
        operation_id = "download_backup"
    )]
    async fn download(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<TarDownload> {
        auth.0.require_admin()?;
        let backups = state.backups();
        let manifest = backups.manifest(&id).await?;
        let bytes = backups
            .target()
            .get_bytes(&create::manifest_key(&manifest.id))
            .await?;
        let length = archive::length(&manifest, bytes.len() as u64);
        let stream = archive::stream(backups.target().clone(), manifest, bytes);
        Ok(TarDownload {
            id: id.0,
            length,
            body: Body::from_bytes_stream(stream),
        })
    }

    /// Delete a backup (admin)
    ///
    /// Removes the backup and every object no remaining backup needs. 409 `backup_running`
    /// while a backup runs.
    #[oai(
        path = "/backups/:id",
        method = "delete",
        operation_id = "delete_backup"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Deleted> {
        auth.0.require_admin()?;
        state
            .backups()
            .delete(&id, Some(&Actor::from(&auth.0)))
            .await?;
        Ok(Deleted::Done)
    }
}
