//! The application state handlers receive (`Data<&AppState>`): built once by `app`, read
//! through accessors. It imports only the handles it holds, never a handler or a service, so
//! everything can depend on it and it depends on nothing above it.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::{cache::PrincipalCache, jwt::JwtKeys, password::PasswordHasher, throttle::Throttle},
    backup::service::Backups,
    db::Db,
    files::{slots::Slots, tasks::Imports},
    mail::Mailer,
    pagination::Totals,
    realtime::Realtime,
    stats::service::CountCache,
    storage::Storage,
    write::Writer,
};

/// Settings handlers and services need at run time.
#[derive(Debug, Clone)]
pub struct Settings {
    pub refresh_ttl_secs: u64,
    pub json_body_limit_bytes: usize,
    pub max_upload_bytes: u64,
    pub public_url: Option<String>,
    /// Extra origins allowed to open the WebSocket (normalised; see `origin.rs`).
    pub allowed_origins: Vec<String>,
    /// Origins allowed by CORS; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// A request body that stalls this long is answered 408.
    pub body_idle_timeout: Duration,
    /// How long an unfinished resumable upload lives after its last change.
    pub upload_expiry: Duration,
    /// `--require-mfa-for-admins`.
    pub require_mfa_for_admins: bool,
    /// Default validity of an invitation link.
    pub invitation_ttl: chrono::Duration,
    /// Validity of a password reset link.
    pub reset_ttl: chrono::Duration,
    /// Base of links sent by e-mail (`--public-url`, else the listen address; see `links.rs`).
    pub mail_base_url: String,
}

/// The failed-login windows: per username and per client address.
pub struct Throttles {
    pub user: Throttle,
    pub ip: Throttle,
    /// Wrong second-factor codes per user (sign-in and enrolment).
    pub mfa: Throttle,
    /// Password reset requests per client address (every request counts).
    pub reset_ip: Throttle,
    /// Reset mails per user, so nobody can flood an inbox (silently: the answer stays 202).
    pub reset_email: Throttle,
}

/// Everything the state is made of.
pub struct Parts {
    pub writer: Writer,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    pub throttles: Throttles,
    pub settings: Settings,
    pub storage: Storage,
    pub download_slots: Slots,
    /// URL import tasks of this instance.
    pub imports: Imports,
    /// Cached totals of the users and files lists.
    pub totals: ListTotals,
    /// Outgoing mail, when `--smtp-url` is set.
    pub mailer: Option<Mailer>,
    /// Backups to `--backup-to`.
    pub backups: Backups,
    /// The dashboard's cached counts.
    pub stats: CountCache,
}

#[derive(Default)]
pub struct ListTotals {
    pub users: Totals,
    pub files: Totals,
}

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    pub fn db(&self) -> &Db {
        self.0.writer.db()
    }

    pub fn writer(&self) -> &Writer {
        &self.0.writer
    }

    pub fn realtime(&self) -> &Realtime {
        self.0.writer.realtime()
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.0.jwt
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.0.hasher
    }

    /// Resolved sessions; on only where this process sees every write (SQLite).
    pub fn principals(&self) -> &PrincipalCache {
        self.0.writer.principals()
    }

    pub fn throttles(&self) -> &Throttles {
        &self.0.throttles
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn storage(&self) -> &Storage {
        &self.0.storage
    }

    pub fn download_slots(&self) -> &Slots {
        &self.0.download_slots
    }

    pub fn imports(&self) -> &Imports {
        &self.0.imports
    }

    pub fn totals(&self) -> &ListTotals {
        &self.0.totals
    }

    pub fn mailer(&self) -> Option<&Mailer> {
        self.0.mailer.as_ref()
    }

    pub fn backups(&self) -> &Backups {
        &self.0.backups
    }

    pub fn stats(&self) -> &CountCache {
        &self.0.stats
    }
}
