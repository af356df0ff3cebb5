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
            "max_downloads": {"type": ["integer", "null"]}
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
    let required: Vec<&str> = std::iter::once(id_field).collect();
    json!({"type": "object", "required": required, "properties": props})
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
        EventType::DownloadProgress => transfer_schema(
            "download_id",
            json!({
                "bytes_sent": {"type": "integer"}, "bytes_total": {"type": ["integer", "null"]},
                "bytes_per_sec": {"type": "number"}
            }),
        ),
        EventType::DownloadAborted => transfer_schema("download_id", json!({})),
        EventType::UploadStarted => transfer_schema(
            "upload_id",
            json!({
                "bytes_total": {"type": ["integer", "null"]}
            }),
        ),
        EventType::UploadProgress => transfer_schema(
            "upload_id",
            json!({
                "bytes_received": {"type": "integer"}, "bytes_total": {"type": ["integer", "null"]},
                "bytes_per_sec": {"type": "number"}
            }),
        ),
        EventType::UploadAborted => transfer_schema("upload_id", json!({})),
        EventType::PresenceJoined | EventType::PresenceLeft => presence,
    }
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
            "Authenticated; live events follow `seq`.",
            json!({"user": {"$ref": "#/components/schemas/User"}, "seq": {"type": "integer", "minimum": 0}}),
            vec!["user", "seq"],
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
            "Replay every durable event with seq > after, then continue live.",
            json!({"after": {"type": "integer", "minimum": 0}}),
            vec!["after"],
            json!({"type": "resume", "after": 41}),
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
            "description": "One WebSocket at /api/ws. Authenticate with the first message, then receive every event in seq order; resume after a reconnect. Close codes: 1001 server shutdown, 4008 too slow (reconnect and resume), 4401 unauthorized or session ended, 4408 no activity for 60 s."
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
