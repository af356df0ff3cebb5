//! The combined OpenAPI service: every REST module's API in one document at `/api/openapi.json`.

use poem_openapi::{OpenApiService, Tags};

use crate::{
    auth::api::AuthApi,
    files::{api::FilesApi, tasks_api::TasksApi},
    realtime::api::EventsApi,
    users::api::UsersApi,
};

#[derive(Tags)]
pub enum ApiTags {
    /// Log in, refresh, log out, change password.
    Auth,
    /// Manage users (writes need the admin role).
    Users,
    /// Upload, download and share files (writes need the admin role).
    Files,
    /// The durable event log (audit trail).
    Events,
    /// Background tasks such as URL imports (cancelling needs the admin role).
    Tasks,
}

pub type Apis = (AuthApi, UsersApi, FilesApi, TasksApi, EventsApi);

/// The API service, served under `/api`.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (AuthApi, UsersApi, FilesApi, TasksApi, EventsApi),
        "Switchboard",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Admin backend with a live admin panel. Authenticate with `POST /api/auth/login` \
             and send `Authorization: Bearer <access_token>`. Every error has the body \
             `{\"error\": {\"code\", \"message\", \"fields\"?}}`.",
    )
    .server("/api")
}
