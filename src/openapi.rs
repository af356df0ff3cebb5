//! The combined OpenAPI service: every REST module's API in one document at `/api/openapi.json`.

use poem_openapi::OpenApiService;

use crate::{
    auth::{api::AuthApi, keys_api::KeysApi, mfa_api::MfaApi, sessions_api::SessionsApi},
    backup::api::BackupsApi,
    files::{api::FilesApi, tasks_api::TasksApi},
    invitations::api::InvitationsApi,
    realtime::api::EventsApi,
    stats::api::StatsApi,
    uploads::api::UploadsApi,
    users::api::UsersApi,
};

pub type Apis = (
    AuthApi,
    MfaApi,
    SessionsApi,
    KeysApi,
    UsersApi,
    InvitationsApi,
    FilesApi,
    UploadsApi,
    TasksApi,
    BackupsApi,
    StatsApi,
    EventsApi,
);

/// The API service, served under `/api`.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            AuthApi,
            MfaApi,
            SessionsApi,
            KeysApi,
            UsersApi,
            InvitationsApi,
            FilesApi,
            UploadsApi,
            TasksApi,
            BackupsApi,
            StatsApi,
            EventsApi,
        ),
        "Switchboard",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Admin backend with a live admin panel. Authenticate with `POST /api/auth/login` \
             and send `Authorization: Bearer <access_token>` (or an API key from `POST /api/keys`). Every error has the body \
             `{\"error\": {\"code\", \"message\", \"fields\"?}}`.",
    )
    .server("/api")
}
