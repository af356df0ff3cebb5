//! Serving a stored file (docs/API.md §5): conditional GET, single ranges, `If-Range`, HEAD, and the
//! streaming body that counts the download when its last byte goes out.

use std::{ops::Range, time::SystemTime};

use bytes::Bytes;
use entity::{file, share_link};
use futures_util::StreamExt;
use http_range_header::StartPosition;
use poem::Body;

use super::{
    limits, naming,
    service::{self, CompletedDownload},
    slots::{SlotGuard, Taken},
    transfer::{Transfer, Via},
};
use crate::{
    auth::sessions::Principal,
    error::{Error, Result},
    metrics,
    state::AppState,
};

/// Where a download comes from.
pub enum Source<'a> {
    /// `/api/files/{id}/download` by an authenticated user.
    Api {
        file_id: &'a str,
        user: &'a Principal,
    },
    /// `/d/{token}`, anonymous.
    Link { token: &'a str },
}

/// The request headers that shape the answer.
#[derive(Debug, Default)]
pub struct Conditions<'a> {
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
}

/// Headers common to every download answer.
#[derive(Debug, Clone)]
pub struct Meta {
    pub content_type: String,
    pub disposition: String,
    pub etag: String,
    pub last_modified: String,
}

/// What to send.
pub enum Outcome {
    NotModified(Meta),
    Full {
        meta: Meta,
        length: u64,
        body: Body,
    },
    Partial {
        meta: Meta,
        length: u64,
        content_range: String,
        body: Body,
    },
}

const GONE_FILE: &str = "this file has expired or reached its download limit";
const GONE_LINK: &str = "this link has expired, reached its download limit or was deleted";

pub async fn serve(
    state: &AppState,
    source: Source<'_>,
    head: bool,
    cond: Conditions<'_>,
) -> Result<Outcome> {
    let now = chrono::Utc::now();
    let (file, link, user) = match source {
        Source::Api { file_id, user } => (
            service::get(state.db().conn(), file_id).await?,
            None,
            Some(user),
        ),
        Source::Link { token } => {
            let link = service::find_link(state.db().conn(), token).await?;
            let file = service::get(state.db().conn(), &link.file_id)
                .await
                .map_err(|_| Error::Gone(GONE_LINK))?;
            (file, Some(link), None)
        }
    };
    if let Some(l) = &link
        && !limits::link_serving(l, now)
    {
        return Err(Error::Gone(GONE_LINK));
    }
    if !limits::file_serving(&file, now) {
        return Err(Error::Gone(if link.is_some() {
            GONE_LINK
        } else {
            GONE_FILE
        }));
    }

    let size = u64::try_from(file.size).unwrap_or(0);
    let modified: SystemTime = file.created_at.into();
    let meta = Meta {
        content_type: file.content_type.clone(),
        disposition: naming::content_disposition(&file.name),
        etag: format!("\"{}\"", file.sha256),
        last_modified: httpdate::fmt_http_date(modified),
    };
    if not_modified(&cond, &meta.etag, modified) {
        return Ok(Outcome::NotModified(meta));
    }
    let range = requested_range(&cond, &meta.etag, modified, size)?;
    let partial = range.is_some();
    let range = range.unwrap_or(0..size);
    let length = range.end - range.start;
    let counts = range.end == size && length > 0 || size == 0;

    if head {
        return Ok(shape(meta, partial, range, size, Body::empty()));
    }
    let slot = if counts {
        take_slot(state, &file, link.as_ref()).await?
    } else {
        None
    };
    let via = if link.is_some() { Via::Link } else { Via::Api };
    let transfer = Transfer::download(
        state.realtime(),
        uuid::Uuid::now_v7().to_string(),
        &file.id,
        via,
        user.map(Into::into),
        Some(length),
        range.start,
    );
    let streamer = Streamer {
        state: state.clone(),
        file_id: file.id.clone(),
        link_token: link.map(|l| l.token),
        user: user.cloned(),
        via,
        counts,
        length,
        slot,
        _gauge: metrics::DownloadInFlight::enter(),
    };
    if length == 0 {
        // Nothing to stream, and the server may never poll an empty body: settle it here.
        if counts && !streamer.count(&transfer).await {
            transfer.abort("limit_reached");
            return Err(Error::Gone(if streamer.link_token.is_some() {
                GONE_LINK
            } else {
                GONE_FILE
            }));
        }
        transfer.finish();
        return Ok(shape(meta, partial, range, size, Body::empty()));
    }
    let chunks = state
        .storage()
        .open(&file.storage_key, range.clone())
        .await?;
    let stream = streamer.run(chunks, transfer);
    Ok(shape(
        meta,
        partial,
        range,
        size,
        Body::from_bytes_stream(stream),
    ))
}

fn shape(meta: Meta, partial: bool, range: Range<u64>, size: u64, body: Body) -> Outcome {
    let length = range.end - range.start;
    if partial {
        Outcome::Partial {
            meta,
            length,
            content_range: format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            ),
            body,
        }
    } else {
        Outcome::Full { meta, length, body }
    }
}

/// `If-None-Match` first; `If-Modified-Since` only without it (RFC 9110 §13.2.2).
fn not_modified(cond: &Conditions<'_>, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = cond.if_none_match {
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag));
    }
    cond.if_modified_since
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .is_some_and(|since| whole_seconds(modified) <= whole_seconds(since))
}

fn whole_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The single range to serve, `None` for the whole file. A `Range` that does not parse, asks
/// for several ranges, or fails `If-Range` is ignored (the whole file is sent, as RFC 9110
/// allows); one that starts past the end is a 416.
fn requested_range(
    cond: &Conditions<'_>,
    etag: &str,
    modified: SystemTime,
    size: u64,
) -> Result<Option<Range<u64>>> {
    let Some(raw) = cond.range else {
        return Ok(None);
    };
    if let Some(if_range) = cond.if_range.map(str::trim) {
        let fresh = if if_range.starts_with('"') {
            if_range == etag // strong comparison only
        } else {
            httpdate::parse_http_date(if_range)
                .is_ok_and(|d| whole_seconds(d) == whole_seconds(modified))
        };
        if !fresh {
            return Ok(None);
        }
    }
    let Ok(mut parsed) = http_range_header::parse_range_header(raw) else {
        return Ok(None);
    };
    match parsed.ranges.as_mut_slice() {
        // A suffix longer than the file means the whole file (RFC 9110 §14.1.2); the crate
        // calls it unsatisfiable.
        [one] => match &mut one.start {
            // An empty file has no byte to start from; a suffix of it is the (empty) whole.
            StartPosition::Index(_) if size == 0 => {
                return Err(Error::RangeNotSatisfiable { size });
            }
            StartPosition::FromLast(_) if size == 0 => return Ok(None),
            StartPosition::FromLast(n) if *n > size => *n = size,
            _ => {}
        },
        _ => return Ok(None),
    }
    let ranges = parsed
        .validate(size)
        .map_err(|_| Error::RangeNotSatisfiable { size })?;
    match ranges.as_slice() {
        [one] => Ok(Some(*one.start()..one.end().saturating_add(1))),
        _ => Ok(None),
    }
}

async fn take_slot(
    state: &AppState,
    file: &file::Model,
    link: Option<&share_link::Model>,
) -> Result<Option<SlotGuard>> {
    match state
        .download_slots()
        .take(state.writer(), file, link)
        .await?
    {
        Taken::Unlimited => Ok(None),
        Taken::Slot(slot) => Ok(Some(slot)),
        Taken::Busy => Err(Error::DownloadsInFlight {
            retry_after_secs: 1,
        }),
        Taken::Spent => Err(Error::Gone(if link.is_some() {
            GONE_LINK
        } else {
            GONE_FILE
        })),
    }
}

/// Everything the body stream owns; dropping it (client gone) releases the slot, lowers the
/// gauge and, through the [`Transfer`], publishes `download.aborted`.
struct Streamer {
    state: AppState,
    file_id: String,
    link_token: Option<String>,
    user: Option<Principal>,
    via: Via,
    counts: bool,
    length: u64,
    slot: Option<SlotGuard>,
    _gauge: metrics::DownloadInFlight,
}

impl Streamer {
    /// Forwards chunks as the client takes them. The chunk that completes the file is held back
    /// until the download is counted: if a limit was reached meanwhile (another instance, an
    /// admin lowering it), the client never gets a complete file.
    fn run(
        self,
        mut chunks: futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>,
        mut transfer: Transfer,
    ) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        async_stream::stream! {
            let this = self;
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, file = %this.file_id, "reading stored file failed");
                        transfer.abort("failed");
                        yield Err(e);
                        return;
                    }
                };
                let last = transfer.bytes() + chunk.len() as u64 >= this.length;
                if last && this.counts && !this.count(&transfer).await {
                    transfer.abort("limit_reached");
                    yield Err(std::io::Error::other("download limit reached"));
                    return;
                }
                transfer.advance(chunk.len() as u64);
                if last {
                    // Settle before handing over the last chunk: with a known length the server
                    // stops polling the body once it has every byte, so code after this
                    // `yield` would never run.
                    if this.counts {
                        transfer.finish();
                    } else {
                        transfer.finish_uncounted();
                    }
                    yield Ok(chunk);
                    return;
                }
                yield Ok(chunk);
            }
            // The stored object ended early: never pretend the download completed.
            transfer.abort("failed");
            yield Err(std::io::Error::other("stored file is shorter than its record"));
        }
    }

    /// `true` when the download was counted.
    async fn count(&self, transfer: &Transfer) -> bool {
        let done = CompletedDownload {
            download_id: &transfer.id,
            file_id: &self.file_id,
            link_token: self.link_token.as_deref(),
            via: self.via.as_str(),
            bytes: self.length,
            duration_ms: u64::try_from(transfer.elapsed().as_millis()).unwrap_or(u64::MAX),
            actor: self.user.as_ref(),
            slot: self.slot.as_ref(),
        };
        match service::count_download(self.state.writer(), done).await {
            Ok(Some(_)) => true,
            Ok(None) => false,
            Err(e) => {
                tracing::error!(error = %e, "counting a download failed");
                false
            }
        }
    }
}
