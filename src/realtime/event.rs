//! The WebSocket protocol's message types (docs/API.md §6): event frames, control messages from the
//! server, client messages, close codes. `asyncapi.rs` documents exactly these.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A subscription topic; each event type belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Users,
    Files,
    Downloads,
    Presence,
}

impl Topic {
    pub const ALL: [Topic; 4] = [
        Topic::Users,
        Topic::Files,
        Topic::Downloads,
        Topic::Presence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Files => "files",
            Self::Downloads => "downloads",
            Self::Presence => "presence",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Bit in a [`TopicSet`].
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Topics a connection receives, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSet(pub u8);

impl TopicSet {
    pub const ALL: TopicSet = TopicSet(0b1111);

    pub fn contains(self, t: Topic) -> bool {
        self.0 & t.bit() != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Topic::ALL
            .into_iter()
            .filter(|t| self.contains(*t))
            .map(Topic::as_str)
            .collect()
    }
}

/// Every event type. Durable ones carry a `seq` and live in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeleted,
    FileCreated,
    FileUpdated,
    FileDeleted,
    DownloadCompleted,
    DownloadStarted,
    DownloadProgress,
    DownloadAborted,
    UploadStarted,
    UploadProgress,
    UploadAborted,
    UploadPaused,
    PresenceJoined,
    PresenceLeft,
    UserRoleChanged,
    AuthLogin,
    AuthLoginFailed,
    KeyCreated,
    KeyRevoked,
    MfaEnabled,
    MfaDisabled,
    SessionRevoked,
    UserInvited,
    InvitationAccepted,
    InvitationRevoked,
    ImportStarted,
    ImportProgress,
    ImportFinished,
    BackupStarted,
    BackupProgress,
    BackupCompleted,
    BackupFailed,
    BackupDeleted,
}

impl EventType {
    pub const ALL: [EventType; 35] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::FileCreated,
        Self::FileUpdated,
        Self::FileDeleted,
        Self::DownloadCompleted,
        Self::DownloadStarted,
        Self::DownloadProgress,
        Self::DownloadAborted,
        Self::UploadStarted,
        Self::UploadProgress,
        Self::UploadAborted,
        Self::UploadPaused,
        Self::PresenceJoined,
        Self::PresenceLeft,
        Self::UserRoleChanged,
        Self::AuthLogin,
        Self::AuthLoginFailed,
        Self::KeyCreated,
        Self::KeyRevoked,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::SessionRevoked,
        Self::UserInvited,
        Self::InvitationAccepted,
        Self::InvitationRevoked,
        Self::ImportStarted,
        Self::ImportProgress,
        Self::ImportFinished,
        Self::BackupStarted,
        Self::BackupProgress,
        Self::BackupCompleted,
        Self::BackupFailed,
        Self::BackupDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::FileCreated => "file.created",
            Self::FileUpdated => "file.updated",
            Self::FileDeleted => "file.deleted",
            Self::DownloadCompleted => "download.completed",
            Self::DownloadStarted => "download.started",
            Self::DownloadProgress => "download.progress",
            Self::DownloadAborted => "download.aborted",
            Self::UploadStarted => "upload.started",
            Self::UploadProgress => "upload.progress",
            Self::UploadAborted => "upload.aborted",
            Self::UploadPaused => "upload.paused",
            Self::PresenceJoined => "presence.joined",
            Self::PresenceLeft => "presence.left",
            Self::UserRoleChanged => "user.role_changed",
            Self::AuthLogin => "auth.login",
            Self::AuthLoginFailed => "auth.login_failed",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
            Self::MfaEnabled => "mfa.enabled",
            Self::MfaDisabled => "mfa.disabled",
            Self::SessionRevoked => "session.revoked",
            Self::UserInvited => "user.invited",
            Self::InvitationAccepted => "user.invitation_accepted",
            Self::InvitationRevoked => "user.invitation_revoked",
            Self::ImportStarted => "import.started",
            Self::ImportProgress => "import.progress",
            Self::ImportFinished => "import.finished",
            Self::BackupStarted => "backup.started",
            Self::BackupProgress => "backup.progress",
            Self::BackupCompleted => "backup.completed",
            Self::BackupFailed => "backup.failed",
            Self::BackupDeleted => "backup.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn topic(self) -> Topic {
        match self {
            // The audit events are about users: they travel with them.
            Self::UserCreated
            | Self::UserUpdated
            | Self::UserDeleted
            | Self::UserRoleChanged
            | Self::AuthLogin
            | Self::AuthLoginFailed
            | Self::KeyCreated
            | Self::KeyRevoked
            | Self::MfaEnabled
            | Self::MfaDisabled
            | Self::SessionRevoked
            | Self::UserInvited
            | Self::InvitationAccepted
            | Self::InvitationRevoked
            | Self::ImportStarted
            | Self::ImportProgress
            | Self::ImportFinished => Topic::Users,
            // Backups are about everything; they travel with the files, whose bytes they hold.
            Self::BackupStarted
            | Self::BackupProgress
            | Self::BackupCompleted
            | Self::BackupFailed
            | Self::BackupDeleted => Topic::Files,
            Self::FileCreated | Self::FileUpdated | Self::FileDeleted => Topic::Files,
            Self::DownloadCompleted
            | Self::DownloadStarted
            | Self::DownloadProgress
            | Self::DownloadAborted
            | Self::UploadStarted
            | Self::UploadProgress
            | Self::UploadAborted
            | Self::UploadPaused => Topic::Downloads,
            Self::PresenceJoined | Self::PresenceLeft => Topic::Presence,
        }
    }

    /// Durable events are written to the log with a `seq`; the others are fire-and-forget.
    pub fn is_durable(self) -> bool {
        matches!(
            self,
            Self::UserCreated
                | Self::UserUpdated
                | Self::UserDeleted
                | Self::FileCreated
                | Self::FileUpdated
                | Self::FileDeleted
                | Self::DownloadCompleted
                | Self::UserRoleChanged
                | Self::AuthLogin
                | Self::AuthLoginFailed
                | Self::KeyCreated
                | Self::KeyRevoked
                | Self::MfaEnabled
                | Self::MfaDisabled
                | Self::SessionRevoked
                | Self::UserInvited
                | Self::InvitationAccepted
                | Self::InvitationRevoked
                | Self::BackupCompleted
                | Self::BackupFailed
                | Self::BackupDeleted
        )
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub username: String,
}

/// The envelope of an event frame, without `data` (spliced in as stored JSON text).
#[derive(Debug, Serialize)]
struct FrameHead<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: Option<i64>,
    ts: String,
    actor: Option<&'a Actor>,
}

pub fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `{"type", "seq", "ts", "actor", "data"}`: one event as clients see it, on the socket and in
/// `GET /api/events`. Serialised once per event; the text is shared by every connection.
/// `data_json` must be a JSON value (it is always produced by this server).
pub fn frame_text(
    kind: &str,
    seq: Option<i64>,
    ts: DateTime<Utc>,
    actor: Option<&Actor>,
    data_json: &str,
) -> String {
    let head = FrameHead {
        kind,
        seq,
        ts: format_ts(ts),
        actor,
    };
    let mut text = serde_json::to_string(&head).unwrap_or_else(|_| "{".into());
    text.pop(); // the closing brace
    text.push_str(",\"data\":");
    text.push_str(if data_json.is_empty() {
        "null"
    } else {
        data_json
    });
    text.push('}');
    text
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: authenticate with an access token.
    Auth {
        token: String,
    },
    Ping,
    /// Replay every durable event with `seq > after`, then continue live. `epoch` is the one of
    /// the `welcome` in which the client saw `after`; another epoch's seqs mean nothing here.
    Resume {
        after: i64,
        #[serde(default)]
        epoch: Option<String>,
    },
    /// Receive only these topics from now on.
    Subscribe {
        topics: Vec<String>,
    },
}

impl ClientMessage {
    pub const TYPES: [&'static str; 4] = ["auth", "ping", "resume", "subscribe"];
}

/// Control messages the server sends (event frames aside).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Authenticated; `seq` is the latest durable seq, live events follow it.
    Welcome {
        user: serde_json::Value,
        seq: i64,
        /// The log's identity; a restore from a backup changes it.
        epoch: String,
    },
    Pong,
    /// The requested `after` is no longer in the log: refetch, then continue from `seq`.
    Resync {
        seq: i64,
    },
    /// The topics now delivered.
    Subscribed {
        topics: Vec<&'static str>,
    },
    /// A client message was not understood; the connection stays open.
    Error {
        code: String,
        message: String,
    },
}

impl ServerMessage {
    pub const TYPES: [&'static str; 5] = ["welcome", "pong", "resync", "subscribed", "error"];

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// WebSocket close codes the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// Server shutting down.
    GoingAway = 1001,
    /// A frame the WebSocket protocol does not allow (RFC 6455).
    ProtocolError = 1002,
    /// A text message that is not UTF-8.
    InvalidData = 1007,
    /// More client messages than the rate limit allows (burst 100, then 20 per second).
    RateLimited = 1008,
    /// A client message over 64 KiB.
    TooBig = 1009,
    /// Could not keep up with its queue; reconnect and resume.
    SlowConsumer = 4008,
    /// Missing, invalid or late authentication, or the session ended.
    Unauthorized = 4401,
    /// Nothing heard from the client for 60 s.
    IdleTimeout = 4408,
}

impl CloseCode {
    pub const ALL: [CloseCode; 8] = [
        Self::GoingAway,
        Self::ProtocolError,
        Self::InvalidData,
        Self::RateLimited,
        Self::TooBig,
        Self::SlowConsumer,
        Self::Unauthorized,
        Self::IdleTimeout,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::GoingAway => "server shutting down",
            Self::ProtocolError => "protocol error",
            Self::InvalidData => "text message is not UTF-8",
            Self::RateLimited => "rate limited: too many messages",
            Self::TooBig => "message too big",
            Self::SlowConsumer => "too slow: queue full, reconnect and resume",
            Self::Unauthorized => "unauthorized",
            Self::IdleTimeout => "no activity",
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// Whose connections to close with 4401 (their session or every session of the user ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    User(String),
    Session(String),
}
