//! `GET /api/users/export`: every user matching the list filters, streamed as CSV or JSON Lines
//! (docs/API.md §4.3). Batches of the primary key, so memory stays flat for any number of users.
//! With `password_hashes=true` each user also carries its stored hash, so the file imports into
//! another server with working passwords (§4.4).

use bytes::Bytes;
use chrono::SecondsFormat;
use entity::user;
use poem::{Body, IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
};
use sea_orm::DatabaseConnection;

use super::{
    dto::User,
    service::{self, ListQuery},
};
use crate::{
    auth::password::NO_PASSWORD,
    error::{Error, Result},
};

const BATCH: u64 = 500;
const CSV: &str = "text/csv; charset=utf-8";
const JSONL: &str = "application/x-ndjson";
/// The CSV columns, in order; the same names as the User fields.
pub const COLUMNS: [&str; 9] = [
    "id",
    "username",
    "email",
    "display_name",
    "role",
    "disabled",
    "created_at",
    "updated_at",
    "last_login_at",
];
/// The extra column (and JSON field) of `password_hashes=true`.
pub const HASH_COLUMN: &str = "password_hash";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("csv") {
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::Jsonl),
            _ => Err(Error::BadRequest("format must be csv or jsonl".into())),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => CSV,
            Self::Jsonl => JSONL,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }
}

fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn csv_record(fields: &[&str]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields)
        .map_err(|e| Error::Internal(format!("csv: {e}")))?;
    w.into_inner()
        .map_err(|e| Error::Internal(format!("csv: {e}")))
}

/// The stored hash as exported: none (empty / null) for an account without a password.
fn exported_hash(u: &user::Model) -> Option<&str> {
    Some(u.password_hash.as_str()).filter(|h| *h != NO_PASSWORD && !h.is_empty())
}

/// One user as one line of the format; with `hashes`, its password hash too.
fn line(format: Format, u: user::Model, hashes: bool) -> Result<Vec<u8>> {
    match format {
        Format::Csv => {
            let last_login = u.last_login_at.as_ref().map(ts).unwrap_or_default();
            let created = ts(&u.created_at);
            let updated = ts(&u.updated_at);
            let mut fields = vec![
                u.id.as_str(),
                &u.username,
                &u.email,
                u.display_name.as_deref().unwrap_or(""),
                &u.role,
                if u.disabled { "true" } else { "false" },
                &created,
                &updated,
                &last_login,
            ];
            if hashes {
                fields.push(exported_hash(&u).unwrap_or(""));
            }
            csv_record(&fields)
        }
        Format::Jsonl => {
            let hash = hashes.then(|| exported_hash(&u).map(str::to_owned));
            let mut value = User::from(u).to_json();
            if let (Some(hash), Some(object)) = (hash, value.as_object_mut()) {
                object.insert(HASH_COLUMN.to_owned(), hash.into());
            }
            let mut out =
                serde_json::to_vec(&value).map_err(|e| Error::Internal(format!("json: {e}")))?;
            out.push(b'\n');
            Ok(out)
        }
    }
}

/// The streamed export.
pub struct Export {
    format: Format,
    body: Body,
}

/// Starts the export; the filters were checked by the caller's first batch. `hashes`: include
/// each user's password hash (`password_hashes=true`).
pub async fn start(
    db: DatabaseConnection,
    query: ListQuery,
    format: Format,
    hashes: bool,
) -> Result<Export> {
    // The first batch before the first byte: a bad filter is still an error status.
    let first = service::export_batch(&db, &query, None, BATCH).await?;
    let stream = async_stream::stream! {
        if format == Format::Csv {
            let mut header = COLUMNS.to_vec();
            if hashes {
                header.push(HASH_COLUMN);
            }
            match csv_record(&header) {
                Ok(head) => yield Ok::<Bytes, std::io::Error>(Bytes::from(head)),
                Err(e) => { yield Err(std::io::Error::other(e.to_string())); return; }
            }
        }
        let mut batch = first;
        while let Some(last) = batch.last().map(|u| u.id.clone()) {
            let full = batch.len() as u64 == BATCH;
            let mut chunk = Vec::new();
            for u in batch {
                match line(format, u, hashes) {
                    Ok(l) => chunk.extend_from_slice(&l),
                    Err(e) => { yield Err(std::io::Error::other(e.to_string())); return; }
                }
            }
            yield Ok(Bytes::from(chunk));
            if !full {
                break;
            }
            batch = match service::export_batch(&db, &query, Some(&last), BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    // The status is sent; a broken body is all a client can be told now.
                    tracing::error!(error = %e, "user export failed mid-way");
                    yield Err(std::io::Error::other(e.to_string()));
                    return;
                }
            };
        }
    };
    Ok(Export {
        format,
        body: Body::from_bytes_stream(stream),
    })
}

impl IntoResponse for Export {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(self.format.content_type())
            .header(
                "content-disposition",
                format!("attachment; filename=\"users.{}\"", self.format.extension()),
            )
            .body(self.body)
    }
}

impl ApiResponse for Export {
    fn meta() -> MetaResponses {
        let text = || MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")));
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The users, streamed: CSV with a header row (`format=csv`), or one User JSON object per line (`format=jsonl`); with `password_hashes=true` also a `password_hash` column / field.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: CSV,
                        schema: text(),
                    },
                    MetaMediaType {
                        content_type: JSONL,
                        schema: text(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let rec = csv_record(&["a,b", "say \"hi\"", "plain", "line\nbreak"]).expect("csv");
        assert_eq!(
            String::from_utf8(rec).expect("utf8"),
            "\"a,b\",\"say \"\"hi\"\"\",plain,\"line\nbreak\"\n"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse(None).ok(), Some(Format::Csv));
        assert_eq!(Format::parse(Some("jsonl")).ok(), Some(Format::Jsonl));
        assert!(Format::parse(Some("xml")).is_err());
    }
}
