//! The OpenAPI tags every REST module files its operations under (a leaf, so the APIs and the
//! combined document in `openapi` never import each other in a circle).

use poem_openapi::Tags;

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
    /// API keys for scripts.
    Keys,
    /// Your sessions and (admin) anyone's; ending one signs that browser out.
    Sessions,
    /// Two-factor sign-in (TOTP) and recovery codes.
    Mfa,
    /// Invite people by e-mail or link (admin).
    Invitations,
    /// Backups of the database and the files (admin).
    Backups,
    /// Dashboard figures.
    Stats,
    /// Resumable uploads (tus 1.0.0); creating and changing them needs the admin role.
    Uploads,
}
