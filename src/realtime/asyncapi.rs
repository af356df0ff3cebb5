//! `GET /api/asyncapi.json`: the WebSocket protocol as an AsyncAPI 3.0 document, built from the
//! same Rust types the server uses; the tests below fail when the two disagree.

use poem::{handler, web::Json};
use serde_json::{Value, json};

use super::event::{ClientMessage, CloseCode, EventType, ServerMessage};

fn user_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "username", "email", "display_name", "role", "disabled", "version",
                     "created_at", "updated_at", "last_login_at"],
        "properties": {
            "id": {"type": "string"},
            "username": {"type": "string"},
            "email": {"type": "string"},
            "display_name": {"type": ["string", "null"]},
            "role": {"type": "string", "enum": ["admin", "viewer"]},
            "disabled": {"type": "boolean"},
            "version": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "last_login_at": {"type": ["string", "null"], "format": "date-time"}
        }
    })
}

fn file_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "size", "content_type", "sha256", "uploaded_by", "created_at",
                     "updated_at", "download_count", "expires_at", "max_downloads"],
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "size": {"type": "integer"},
            "content_type": {"type": "string"}, "sha256": {"type": "string"},
            "uploaded_by": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "download_count": {"type": "integer"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "max_downloads": {"type": ["integer", "null"]},
            "version": {"type": "integer"}
        }
    })
}

fn transfer_schema(id_field: &str, extra: Value) -> Value {
    let mut props = json!({
        id_field: {"type": "string"},
        "file_id": {"type": ["string", "null"]},
    });
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let required: Vec<String> = props
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "additionalProperties": false, "required": required,
           "properties": props})
}

/// The `data` schema of each event type.
fn data_schema(kind: EventType) -> Value {
    let id_only = json!({"type": "object", "additionalProperties": false, "required": ["id"],
                         "properties": {"id": {"type": "string"}}});
    let via = json!({"type": "string", "enum": ["api", "link", "import"]});
    let presence = json!({
        "type": "object", "additionalProperties": false, "required": ["user", "connections"],
        "properties": {
            "user": {"$ref": "#/components/schemas/Actor"},
            "connections": {"type": "integer", "minimum": 0}
        }
    });
    let progress = json!({
        "bytes_sent": {"type": "integer"}, "bytes_total": {"type": ["integer", "null"]},
        "bytes_per_sec": {"type": "number"}
    });
    let aborted = json!({
        "bytes_sent": {"type": "integer"}, "bytes_total": {"type": ["integer", "null"]},
        "reason": {"type": "string",
                   "enum": ["client_gone", "limit_reached", "failed", "cancelled", "too_large",
                            "rejected", "expired"]}
    });
    match kind {
        EventType::UserCreated | EventType::UserUpdated => {
            json!({"$ref": "#/components/schemas/User"})
        }
        EventType::FileCreated | EventType::FileUpdated => {
            json!({"$ref": "#/components/schemas/File"})
        }
        EventType::UserDeleted | EventType::FileDeleted => id_only,
        EventType::DownloadCompleted => transfer_schema(
            "download_id",
            json!({
                "via": via, "bytes": {"type": "integer"}, "duration_ms": {"type": "integer"},
                "download_count": {"type": "integer"}
            }),
        ),
        EventType::DownloadStarted => transfer_schema(
            "download_id",
            json!({
                "via": via, "bytes_total": {"type": ["integer", "null"]},
                "range_start": {"type": "integer"}
            }),
        ),
        EventType::DownloadProgress => transfer_schema("download_id", progress),
        EventType::DownloadAborted => transfer_schema("download_id", aborted),
        EventType::UploadStarted => transfer_schema(
            "upload_id",
            json!({
                "name": {"type": ["string", "null"]},
                "bytes_total": {"type": ["integer", "null"],
                                "description": "the request's Content-Length; for a resumable \
                                                upload its Upload-Length"},
                "range_start": {"type": "integer",
                                "description": "bytes already stored when this request began \
                                                (a resumed upload's offset; else 0)"}
            }),
        ),
        EventType::UploadProgress => transfer_schema("upload_id", progress),
        EventType::UploadAborted => transfer_schema("upload_id", aborted),
        EventType::UploadPaused => transfer_schema(
            "upload_id",
            json!({
                "bytes_sent": {"type": "integer",
                               "description": "bytes stored so far: the offset to resume from"},
                "bytes_total": {"type": ["integer", "null"]}
            }),
        ),
        EventType::PresenceJoined | EventType::PresenceLeft => presence,
        EventType::UserRoleChanged => json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "username", "from", "to"],
            "properties": {
                "id": {"type": "string"}, "username": {"type": "string"},
                "from": {"type": "string", "enum": ["admin", "viewer"]},
                "to": {"type": "string", "enum": ["admin", "viewer"]}
            }
        }),
        EventType::AuthLogin => json!({
            "type": "object", "additionalProperties": false, "required": ["user", "ip"],
            "properties": {
                "user": {"$ref": "#/components/schemas/Actor"},
                "ip": {"type": ["string", "null"], "description": "the client's address"}
            }
        }),
        EventType::AuthLoginFailed => json!({
            "type": "object", "additionalProperties": false, "required": ["username", "ip"],
            "properties": {
                "username": {"type": "string",
                             "description": "as typed, at most 64 characters; the same event whether the user is unknown, disabled or the password wrong"},
                "ip": {"type": ["string", "null"]}
            }
        }),
        EventType::KeyCreated => json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "user_id", "name", "role", "created_at", "expires_at"],
            "description": "an API key (never its secret)",
            "properties": {
                "id": {"type": "string"}, "user_id": {"type": "string"}, "name": {"type": "string"},
                "role": {"type": "string", "enum": ["admin", "viewer"]},
                "created_at": {"type": "string", "format": "date-time"},
                "expires_at": {"type": ["string", "null"], "format": "date-time"}
            }
        }),
        EventType::KeyRevoked => json!({
            "type": "object", "additionalProperties": false, "required": ["id", "user_id", "name"],
            "properties": {
                "id": {"type": "string"}, "user_id": {"type": "string"}, "name": {"type": "string"}
            }
        }),
        EventType::MfaEnabled => json!({
            "type": "object", "additionalProperties": false, "required": ["id", "username"],
            "description": "the user `id` turned a second factor on",
            "properties": {"id": {"type": "string"}, "username": {"type": "string"}}
        }),
        EventType::MfaDisabled => json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "username", "reason"],
            "properties": {
                "id": {"type": "string"}, "username": {"type": "string"},
                "reason": {"type": "string", "enum": ["disabled", "reset"],
                           "description": "`disabled` by the user, `reset` by an admin"}
            }
        }),
        EventType::SessionRevoked => json!({
            "type": "object", "additionalProperties": false, "required": ["id", "user_id", "reason"],
            "description": "a session ended from a sessions list; its sockets close with 4401",
            "properties": {
                "id": {"type": "string"}, "user_id": {"type": "string"},
                "reason": {"type": "string", "enum": ["ended"]}
            }
        }),
        EventType::UserInvited => json!({
            "type": "object", "additionalProperties": false,
            "required": ["id", "email", "role", "invited_by", "created_at", "expires_at", "status"],
            "properties": {
                "id": {"type": "string"}, "email": {"type": "string"},
                "role": {"type": "string", "enum": ["admin", "viewer"]},
                "invited_by": {"type": ["string", "null"]},
                "created_at": {"type": "string", "format": "date-time"},
                "expires_at": {"type": "string", "format": "date-time"},
                "status": {"type": "string", "enum": ["pending"]}
            }
        }),
        EventType::InvitationAccepted => json!({
            "type": "object", "additionalProperties": false, "required": ["id", "user_id"],
            "description": "follows the `user.created` of the new user",
            "properties": {"id": {"type": "string"}, "user_id": {"type": "string"}}
        }),
        EventType::InvitationRevoked => id_only.clone(),
        EventType::ImportStarted | EventType::ImportProgress | EventType::ImportFinished => {
            import_schema()
        }
        EventType::BackupStarted
        | EventType::BackupProgress
        | EventType::BackupCompleted
        | EventType::BackupFailed => backup_schema(),
        EventType::BackupDeleted => id_only,
    }
}

/// The counts of a user import (docs/API.md §4.4), as its events carry them.
fn import_schema() -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    json!({
        "type": "object", "additionalProperties": false,
        "required": ["import_id", "dry_run", "mode", "rows_total", "rows_done", "created",
                     "skipped", "errors"],
        "description": "a bulk user import in progress (`import.progress` at most 4 per second); \
                        each user it creates is also an ordinary `user.created`",
        "properties": {
            "import_id": {"type": "string"},
            "dry_run": {"type": "boolean"},
            "mode": {"type": "string", "enum": ["all_or_nothing", "skip_invalid"]},
            "rows_total": count, "rows_done": count, "created": count, "skipped": count,
            "errors": {"type": "integer", "minimum": 0, "description": "rows with a problem"}
        }
    })
}

/// A backup as `GET /api/backups` lists it (docs/API.md §8).
fn backup_schema() -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    json!({
        "type": "object", "additionalProperties": false,
        "required": ["id", "status", "trigger", "created_at", "finished_at", "phase",
                     "database_backend", "last_seq", "schema_version", "objects_total",
                     "objects_done", "objects_copied", "objects_reused", "bytes_copied",
                     "size_bytes", "error"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["running", "completed", "failed"]},
            "trigger": {"type": "string", "enum": ["api", "schedule", "cli"]},
            "created_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "phase": {"type": "string", "enum": ["database", "objects", "manifest", "done"]},
            "database_backend": {"type": "string", "enum": ["sqlite", "postgres"]},
            "last_seq": {"type": ["integer", "null"]},
            "schema_version": {"type": ["string", "null"]},
            "objects_total": count, "objects_done": count, "objects_copied": count,
            "objects_reused": count, "bytes_copied": count, "size_bytes": count,
            "error": {"type": ["string", "null"]}
        }
    })
}

fn event_message(kind: EventType) -> Value {
    let seq = if kind.is_durable() {
        json!({"type": "integer", "minimum": 1, "description": "gap-free, strictly increasing"})
    } else {
        json!({"type": "null"})
    };
    json!({
        "name": kind.as_str(),
        "title": kind.as_str(),
        "summary": if kind.is_durable() { "Durable event (kept in the log, has a seq)" }
                   else { "Ephemeral event (not logged, seq is null)" },
        "x-topic": kind.topic().as_str(),
        "payload": {
            "type": "object",
            "additionalProperties": false,
            "required": ["type", "seq", "ts", "actor", "data"],
            "properties": {
                "type": {"const": kind.as_str()},
                "seq": seq,
                "ts": {"type": "string", "format": "date-time"},
                "actor": {"oneOf": [{"$ref": "#/components/schemas/Actor"}, {"type": "null"}]},
                "data": data_schema(kind)
            }
        }
    })
}

fn server_message(name: &str) -> Value {
    let (summary, props, required): (&str, Value, Vec<&str>) = match name {
        "welcome" => (
            "Authenticated; live events follow `seq`. `epoch` names the event log: it changes only when the database is restored from a backup.",
            json!({"user": {"$ref": "#/components/schemas/User"}, "seq": {"type": "integer", "minimum": 0},
                   "epoch": {"type": "string"}}),
            vec!["user", "seq", "epoch"],
        ),
        "pong" => ("Answer to ping.", json!({}), vec![]),
        "resync" => (
            "`after` is older than the retained log: refetch lists, live continues after `seq`.",
            json!({"seq": {"type": "integer"}}),
            vec!["seq"],
        ),
        "subscribed" => (
            "The topics now delivered.",
            json!({"topics": {"type": "array", "items": {"type": "string",
                   "enum": ["users", "files", "downloads", "presence"]}}}),
            vec!["topics"],
        ),
        _ => (
            "A client message was not understood; the connection stays open.",
            json!({"code": {"type": "string"}, "message": {"type": "string"}}),
            vec!["code", "message"],
        ),
    };
    let mut properties = json!({"type": {"const": name}});
    if let (Some(p), Some(extra)) = (properties.as_object_mut(), props.as_object()) {
        p.extend(extra.clone());
    }
    let mut req = vec!["type"];
    req.extend(required);
    json!({"name": name, "title": name, "summary": summary,
           "payload": {"type": "object", "additionalProperties": false, "required": req,
                       "properties": properties}})
}

fn client_message(name: &str) -> Value {
    let (summary, props, required, example): (&str, Value, Vec<&str>, Value) = match name {
        "auth" => (
            "First message, within 10 s: an access token from POST /api/auth/login.",
            json!({"token": {"type": "string"}}),
            vec!["token"],
            json!({"type": "auth", "token": "eyJhbGciOi..."}),
        ),
        "ping" => (
            "Answered with pong.",
            json!({}),
            vec![],
            json!({"type": "ping"}),
        ),
        "resume" => (
            "Replay every durable event with seq > after, then continue live. Send the `epoch` of the welcome in which `after` was seen: from another epoch (the log was restored) the answer is resync.",
            json!({"after": {"type": "integer", "minimum": 0}, "epoch": {"type": "string"}}),
            vec!["after"],
            json!({"type": "resume", "after": 41, "epoch": "0193b9d2c4a87c40b1f2e3d4c5b6a798"}),
        ),
        _ => (
            "Receive only these topics.",
            json!({"topics": {"type": "array", "items": {"type": "string",
                   "enum": ["users", "files", "downloads", "presence"]}}}),
            vec!["topics"],
            json!({"type": "subscribe", "topics": ["users", "presence"]}),
        ),
    };
    let mut properties = json!({"type": {"const": name}});
    if let (Some(p), Some(extra)) = (properties.as_object_mut(), props.as_object()) {
        p.extend(extra.clone());
    }
    let mut req = vec!["type"];
    req.extend(required);
    json!({"name": name, "title": name, "summary": summary,
           "payload": {"type": "object", "additionalProperties": false, "required": req,
                       "properties": properties},
           "examples": [{"payload": example}]})
}

fn key(name: &str) -> String {
    name.replace('.', "_")
}

/// The whole document.
pub fn document() -> Value {
    let mut messages = serde_json::Map::new();
    let mut server_refs = Vec::new();
    let mut client_refs = Vec::new();
    for kind in EventType::ALL {
        messages.insert(key(kind.as_str()), event_message(kind));
        server_refs.push(json!({"$ref": format!("#/channels/ws/messages/{}", key(kind.as_str()))}));
    }
    for name in ServerMessage::TYPES {
        messages.insert(key(name), server_message(name));
        server_refs.push(json!({"$ref": format!("#/channels/ws/messages/{}", key(name))}));
    }
    for name in ClientMessage::TYPES {
        let k = format!("client_{}", key(name));
        messages.insert(k.clone(), client_message(name));
        client_refs.push(json!({"$ref": format!("#/channels/ws/messages/{k}")}));
    }
    let close_codes: Vec<Value> = CloseCode::ALL
        .iter()
        .map(|c| json!({"code": c.code(), "reason": c.reason()}))
        .collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard realtime",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One WebSocket at /api/ws. Authenticate with the first message, then receive every event in seq order; resume after a reconnect. Close codes: 1001 server shutdown, 4008 too slow (reconnect and resume), 4401 unauthorized or session ended, 4408 no activity for 60 s; a client breaking the rules gets 1002 (protocol error), 1007 (text not UTF-8), 1008 (more than 100 messages at once or 20 per second sustained) or 1009 (message over 64 KiB)."
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:8080", "protocol": "ws", "pathname": "/api/ws"}},
        "channels": {
            "ws": {
                "address": "/api/ws",
                "title": "The realtime channel",
                "messages": messages,
                "x-close-codes": close_codes
            }
        },
        "operations": {
            "receiveEvents": {"action": "receive", "channel": {"$ref": "#/channels/ws"},
                              "summary": "Server to client: events and control messages",
                              "messages": server_refs},
            "sendCommands": {"action": "send", "channel": {"$ref": "#/channels/ws"},
                             "summary": "Client to server",
                             "messages": client_refs}
        },
        "components": {
            "schemas": {
                "User": user_schema(),
                "File": file_schema(),
                "Actor": {"type": "object", "additionalProperties": false,
                          "required": ["id", "username"],
                          "properties": {"id": {"type": "string"}, "username": {"type": "string"}}}
            }
        }
    })
}

#[handler]
pub async fn endpoint() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    //! The document against the Rust types: every message type on both sides, every close code,
    //! and real serialised messages validated against the document's schemas.

    use std::collections::BTreeSet;

    use chrono::Utc;
    use serde_json::{Value, json};

    use super::{document, key};
    use crate::realtime::{
        event::{Actor, ClientMessage, CloseCode, EventType, ServerMessage, frame_text},
        hub::presence_frame,
    };

    /// Exhaustive: a new variant fails to compile until it is named (and documented).
    fn server_name(m: &ServerMessage) -> &'static str {
        match m {
            ServerMessage::Welcome { .. } => "welcome",
            ServerMessage::Pong => "pong",
            ServerMessage::Resync { .. } => "resync",
            ServerMessage::Subscribed { .. } => "subscribed",
            ServerMessage::Error { .. } => "error",
        }
    }

    fn client_name(m: &ClientMessage) -> &'static str {
        match m {
            ClientMessage::Auth { .. } => "auth",
            ClientMessage::Ping => "ping",
            ClientMessage::Resume { .. } => "resume",
            ClientMessage::Subscribe { .. } => "subscribe",
        }
    }

    fn sample_user() -> Value {
        let now = Utc::now();
        let model = entity::user::Model {
            id: "01a2016b-cc3a-76da-bde8-816c741c3500".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_lower: "ada@example.com".into(),
            display_name: None,
            role: "admin".into(),
            disabled: false,
            password_hash: "not serialised".into(),
            version: 3,
            created_at: now,
            updated_at: now,
            last_login_at: Some(now),
        };
        crate::users::dto::User::from(model).to_json()
    }

    fn server_samples() -> Vec<ServerMessage> {
        vec![
            ServerMessage::Welcome {
                user: sample_user(),
                seq: 41,
                epoch: "0193b9d2c4a87c40b1f2e3d4c5b6a798".into(),
            },
            ServerMessage::Pong,
            ServerMessage::Resync { seq: 99 },
            ServerMessage::Subscribed {
                topics: vec!["users", "presence"],
            },
            ServerMessage::Error {
                code: "bad_message".into(),
                message: "no".into(),
            },
        ]
    }

    fn sample_data(kind: EventType) -> Value {
        let file = json!({"id": "f1", "name": "a.txt", "size": 3, "content_type": "text/plain",
            "sha256": "ab", "uploaded_by": "u1", "created_at": "2026-11-22T04:00:00Z",
            "updated_at": "2026-11-22T04:00:00Z", "download_count": 0, "expires_at": null,
            "max_downloads": null, "version": 1});
        match kind {
            EventType::UserCreated | EventType::UserUpdated => sample_user(),
            EventType::UserDeleted | EventType::FileDeleted => json!({"id": "x"}),
            EventType::FileCreated | EventType::FileUpdated => file,
            EventType::DownloadCompleted => {
                json!({"download_id": "d", "file_id": "f", "via": "api",
                "bytes": 3, "duration_ms": 1, "download_count": 1})
            }
            EventType::DownloadStarted => json!({"download_id": "d", "file_id": "f", "via": "link",
                "bytes_total": 3, "range_start": 0}),
            EventType::DownloadProgress => json!({"download_id": "d", "file_id": "f",
                "bytes_sent": 1, "bytes_total": null, "bytes_per_sec": 10.5}),
            EventType::DownloadAborted => json!({"download_id": "d", "file_id": "f",
                "bytes_sent": 1, "bytes_total": 3, "reason": "client_gone"}),
            EventType::UploadStarted => {
                json!({"upload_id": "u", "file_id": "f", "name": "a.txt", "bytes_total": 9,
                       "range_start": 0})
            }
            EventType::UploadProgress => json!({"upload_id": "u", "file_id": "f",
                "bytes_sent": 1, "bytes_total": 9, "bytes_per_sec": 3.0}),
            EventType::UploadAborted => json!({"upload_id": "u", "file_id": "f",
                "bytes_sent": 1, "bytes_total": null, "reason": "too_large"}),
            EventType::UploadPaused => json!({"upload_id": "u", "file_id": "f",
                "bytes_sent": 4, "bytes_total": 9}),
            EventType::PresenceJoined | EventType::PresenceLeft => json!({}),
            EventType::UserRoleChanged => {
                json!({"id": "u2", "username": "bob", "from": "viewer", "to": "admin"})
            }
            EventType::AuthLogin => json!({"user": {"id": "u1", "username": "ada"},
                "ip": "127.0.0.1"}),
            EventType::AuthLoginFailed => json!({"username": "ada", "ip": null}),
            EventType::KeyCreated => json!({"id": "k1", "user_id": "u1", "name": "ci",
                "role": "viewer", "created_at": "2026-01-01T00:00:00.000Z", "expires_at": null}),
            EventType::KeyRevoked => json!({"id": "k1", "user_id": "u1", "name": "ci"}),
            EventType::MfaEnabled => json!({"id": "u1", "username": "ada"}),
            EventType::MfaDisabled => json!({"id": "u1", "username": "ada", "reason": "reset"}),
            EventType::SessionRevoked => json!({"id": "s1", "user_id": "u1", "reason": "ended"}),
            EventType::UserInvited => json!({"id": "i1", "email": "bo@example.com",
                "role": "viewer", "invited_by": "u1", "created_at": "2026-01-01T00:00:00.000Z",
                "expires_at": "2026-01-08T00:00:00.000Z", "status": "pending"}),
            EventType::InvitationAccepted => json!({"id": "i1", "user_id": "u2"}),
            EventType::InvitationRevoked => json!({"id": "i1"}),
            EventType::ImportStarted | EventType::ImportProgress | EventType::ImportFinished => {
                json!({"import_id": "i1", "dry_run": false, "mode": "skip_invalid",
                       "rows_total": 10, "rows_done": 4, "created": 3, "skipped": 1,
                       "errors": 1})
            }
            EventType::BackupStarted
            | EventType::BackupProgress
            | EventType::BackupCompleted
            | EventType::BackupFailed => json!({"id": "20260101T000000000Z-ab12",
                "status": "running", "trigger": "api",
                "created_at": "2026-01-01T00:00:00.000Z", "finished_at": null,
                "phase": "objects", "database_backend": "sqlite", "last_seq": 12,
                "schema_version": "m20261202_000010_log_identity", "objects_total": 3,
                "objects_done": 1, "objects_copied": 1, "objects_reused": 0,
                "bytes_copied": 10, "size_bytes": 4096, "error": null}),
            EventType::BackupDeleted => json!({"id": "20260101T000000000Z-ab12"}),
        }
    }

    fn event_sample(kind: EventType) -> Value {
        let actor = Actor {
            id: "u1".into(),
            username: "ada".into(),
        };
        let text = match kind {
            EventType::PresenceJoined | EventType::PresenceLeft => {
                presence_frame(kind, &actor, 2).to_string()
            }
            _ => {
                let seq = kind.is_durable().then_some(7);
                frame_text(
                    kind.as_str(),
                    seq,
                    Utc::now(),
                    Some(&actor),
                    &sample_data(kind).to_string(),
                )
            }
        };
        serde_json::from_str(&text).expect("frame is JSON")
    }

    fn validate(doc: &Value, message_key: &str, instance: &Value) {
        let mut schema = doc.clone();
        schema["$ref"] = json!(format!("#/channels/ws/messages/{message_key}/payload"));
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{message_key}: {instance} does not match the document: {errors:?}"
        );
    }

    #[test]
    fn every_message_type_is_documented_and_nothing_else() {
        let doc = document();
        let documented: BTreeSet<String> = doc["channels"]["ws"]["messages"]
            .as_object()
            .expect("messages")
            .keys()
            .cloned()
            .collect();
        let mut expected: BTreeSet<String> =
            EventType::ALL.iter().map(|k| key(k.as_str())).collect();
        for m in server_samples() {
            assert!(ServerMessage::TYPES.contains(&server_name(&m)));
            expected.insert(key(server_name(&m)));
        }
        assert_eq!(ServerMessage::TYPES.len(), server_samples().len());
        expected.extend(
            ClientMessage::TYPES
                .iter()
                .map(|n| format!("client_{}", key(n))),
        );
        assert_eq!(documented, expected);
    }

    #[test]
    fn server_messages_match_their_schemas() {
        let doc = document();
        for m in server_samples() {
            let value: Value = serde_json::from_str(&m.to_text()).expect("json");
            assert_eq!(value["type"], server_name(&m));
            validate(&doc, &key(server_name(&m)), &value);
        }
        for kind in EventType::ALL {
            let sample = event_sample(kind);
            assert_eq!(sample["type"], kind.as_str());
            validate(&doc, &key(kind.as_str()), &sample);
        }
    }

    #[test]
    fn documented_client_examples_parse_as_client_messages() {
        let doc = document();
        let mut seen = BTreeSet::new();
        for name in ClientMessage::TYPES {
            let msg = &doc["channels"]["ws"]["messages"][format!("client_{}", key(name))];
            let example = msg["examples"][0]["payload"].clone();
            validate(&doc, &format!("client_{}", key(name)), &example);
            let parsed: ClientMessage = serde_json::from_value(example).expect("example parses");
            assert_eq!(client_name(&parsed), name);
            seen.insert(client_name(&parsed));
        }
        assert_eq!(seen.len(), ClientMessage::TYPES.len());
    }

    #[test]
    fn close_codes_match() {
        let doc = document();
        let documented: Vec<u64> = doc["channels"]["ws"]["x-close-codes"]
            .as_array()
            .expect("close codes")
            .iter()
            .filter_map(|c| c["code"].as_u64())
            .collect();
        let ours: Vec<u64> = CloseCode::ALL.iter().map(|c| u64::from(c.code())).collect();
        assert_eq!(documented, ours);
    }

    #[test]
    fn a_wrong_payload_is_rejected() {
        // The validation above can fail: a user.updated frame without data.version must not pass.
        let doc = document();
        let mut bad = event_sample(EventType::UserUpdated);
        bad["data"]
            .as_object_mut()
            .expect("object")
            .remove("version");
        let mut schema = doc.clone();
        schema["$ref"] = json!("#/channels/ws/messages/user_updated/payload");
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        assert!(!validator.is_valid(&bad));
    }
}
