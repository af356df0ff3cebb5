//! ZIP bundles (docs/API.md §5.7): several stored files streamed as one archive, built on the fly
//! as the client reads it. Nothing is staged: memory stays at about one storage chunk whatever
//! the archive's size.
//!
//! - Entries are *stored*, not deflated: stored files are often compressed already (images,
//!   video, archives), and storing keeps CPU cost and throughput predictable (a copy and a
//!   CRC-32 per byte).
//! - Each entry is followed by a data descriptor (its CRC is known only once its bytes went out).
//!   ZIP64 records are written only when the archive could pass 4 GiB (its size is bounded up
//!   front from the stored sizes), so small archives open in the oldest readers.
//! - Every file of the bundle is a download of its own on the event stream (`via: "api"`), and all
//!   of them are counted in one transaction just before the archive's last bytes (the central
//!   directory) go out: a client that leaves early holds no readable archive and counts nothing.
//! - Tickets (`POST /files/archive-url`) reuse the signed, session-bound download tickets: their
//!   file claim carries the selection instead of one id, marked by [`TICKET_MARK`], so a file
//!   ticket never opens an archive nor the reverse.

use std::{
    collections::HashSet,
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
};

use async_zip::{
    Compression, ZipDateTimeBuilder, ZipEntry, ZipEntryBuilder, base::write::ZipFileWriter,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};
use entity::file;
use futures_util::{AsyncWriteExt as _, StreamExt as _};
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

/// The most files one archive may hold.
pub const MAX_FILES: usize = 1000;
/// Starts the file claim of an archive ticket; never part of a file id.
pub const TICKET_MARK: &str = "zip1.";

const GONE: &str = "a file of the archive has expired or reached its download limit";
const BAD_TICKET: &str = "invalid or expired download ticket";

/// The files a client asked for, checked, and the archive's file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    ids: Vec<String>,
    name: String,
}

impl Selection {
    /// 1 to [`MAX_FILES`] ids without duplicates, and a name (sanitised, `.zip` appended when
    /// missing; default `files-<UTC date>.zip`). Problems are a 422 on `ids` or `name`.
    pub fn parse(ids: Vec<String>, name: Option<&str>) -> Result<Self> {
        let mut problems = std::collections::BTreeMap::new();
        if ids.is_empty() {
            problems.insert("ids".into(), "must list at least one file id".into());
        } else if ids.len() > MAX_FILES {
            problems.insert(
                "ids".into(),
                format!("at most {MAX_FILES} files per archive"),
            );
        } else {
            let mut seen = HashSet::with_capacity(ids.len());
            if let Some(dup) = ids.iter().find(|id| !seen.insert(id.as_str())) {
                problems.insert("ids".into(), format!("lists {dup} more than once"));
            }
        }
        let name = match name {
            None => Some(format!("files-{}.zip", Utc::now().format("%Y-%m-%d"))),
            Some(raw) => naming::sanitize(raw).map(with_zip_extension),
        };
        let Some(name) = name else {
            problems.insert("name".into(), "must be a non-empty file name".into());
            return Err(Error::Validation(problems));
        };
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        Ok(Self { ids, name })
    }

    /// The selection as the file claim of a download ticket: [`TICKET_MARK`], then base64url of
    /// `name length (u16 BE), name, ids`, each id 16 bytes when it is a canonical UUID (all ids
    /// the server makes are), else a marker byte, its length and its bytes. About 22 characters a
    /// file, so even a full archive's URL stays well inside what servers accept.
    fn to_claim(&self) -> String {
        let mut raw = Vec::with_capacity(2 + self.name.len() + 17 * self.ids.len());
        push_str(&mut raw, &self.name);
        for id in &self.ids {
            match uuid::Uuid::try_parse(id) {
                Ok(u) if u.hyphenated().to_string() == *id => {
                    raw.push(0);
                    raw.extend_from_slice(u.as_bytes());
                }
                _ => {
                    raw.push(1);
                    push_str(&mut raw, id);
                }
            }
        }
        format!("{TICKET_MARK}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// The inverse of [`Self::to_claim`]; anything else (a file ticket) is a 401.
    fn from_claim(claim: &str) -> Result<Self> {
        let bad = || Error::Unauthorized(BAD_TICKET);
        let raw = claim
            .strip_prefix(TICKET_MARK)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .ok_or_else(bad)?;
        let mut rest = raw.as_slice();
        let name = take_str(&mut rest).ok_or_else(bad)?;
        let mut ids = Vec::new();
        while let Some((&kind, tail)) = rest.split_first() {
            rest = tail;
            let id = match kind {
                0 => {
                    let (bytes, tail) = rest.split_first_chunk::<16>().ok_or_else(bad)?;
                    rest = tail;
                    uuid::Uuid::from_bytes(*bytes).hyphenated().to_string()
                }
                1 => take_str(&mut rest).ok_or_else(bad)?,
                _ => return Err(bad()),
            };
            ids.push(id);
        }
        // Signed by us, so it parsed when issued; checking again costs nothing.
        Self::parse(ids, Some(&name)).map_err(|_| bad())
    }
}

fn with_zip_extension(name: String) -> String {
    if name.to_lowercase().ends_with(".zip") {
        return name;
    }
    // Stay within the 255 characters of a sanitised name.
    let stem: String = name.chars().take(251).collect();
    format!("{stem}.zip")
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Names are at most 255 characters and ids short: the length always fits.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

fn take_str(rest: &mut &[u8]) -> Option<String> {
    let (len, tail) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (s, tail) = (tail.get(..len)?, tail.get(len..)?);
    *rest = tail;
    String::from_utf8(s.to_vec()).ok()
}

/// A ticket for `selection` on behalf of `user`'s session, with its expiry. The files are checked
/// first, so an unknown id is a 404 here rather than when the browser follows the URL.
pub async fn issue_ticket(
    state: &AppState,
    user: &Principal,
    selection: &Selection,
) -> Result<(String, DateTime<Utc>)> {
    let files = service::get_many(state.db().conn(), &selection.ids).await?;
    let now = Utc::now();
    if files.iter().any(|f| !limits::file_serving(f, now)) {
        return Err(Error::Gone(GONE));
    }
    let (ticket, exp) =
        state
            .jwt()
            .issue_ticket(&user.user_id, &user.session_id, &selection.to_claim())?;
    let expires_at = DateTime::from_timestamp(exp, 0)
        .ok_or_else(|| Error::Internal("ticket expiry out of range".into()))?;
    Ok((ticket, expires_at))
}

/// The user and selection of an archive ticket; 401 for anything else or an ended session.
pub async fn redeem_ticket(state: &AppState, ticket: &str) -> Result<(Principal, Selection)> {
    let claims = state.jwt().verify_ticket(ticket)?;
    let selection = Selection::from_claim(&claims.fid)?;
    let (user, _) =
        crate::auth::sessions::principal(state.db().conn(), &claims.sid, &claims.sub).await?;
    Ok((user, selection))
}

/// A bundle ready to stream.
pub struct Bundle {
    pub disposition: String,
    pub body: Body,
}

/// Checks every file (404 unknown, 410 expired or exhausted, 429 while a limited file's remaining
/// downloads are all in flight) and takes their download slots, all before the first byte; then
/// returns the streaming body.
pub async fn open(state: &AppState, user: &Principal, selection: Selection) -> Result<Bundle> {
    let files = service::get_many(state.db().conn(), &selection.ids).await?;
    let now = Utc::now();
    if files.iter().any(|f| !limits::file_serving(f, now)) {
        return Err(Error::Gone(GONE));
    }
    let names = entry_names(&files);
    let mut entries = Vec::with_capacity(files.len());
    for (file, name) in files.into_iter().zip(names) {
        // Dropping the slots taken so far (on an error) frees them.
        let slot = match state
            .download_slots()
            .take(state.writer(), &file, None)
            .await?
        {
            Taken::Unlimited => None,
            Taken::Slot(s) => Some(s),
            Taken::Busy => {
                return Err(Error::DownloadsInFlight {
                    retry_after_secs: 1,
                });
            }
            Taken::Spent => return Err(Error::Gone(GONE)),
        };
        entries.push(Entry {
            size: u64::try_from(file.size).unwrap_or(0),
            file,
            name,
            slot,
        });
    }
    let zip64 = needs_zip64(&entries);
    let bundler = Bundler {
        state: state.clone(),
        user: user.clone(),
        entries,
        zip64,
        _gauge: metrics::DownloadInFlight::enter(),
    };
    Ok(Bundle {
        disposition: naming::content_disposition(&selection.name),
        body: Body::from_bytes_stream(bundler.run()),
    })
}

/// Entry names: each file's name sanitised again (it may predate today's rules; the file id when
/// nothing is left), then made unique ignoring case — `a.txt`, `a (2).txt`, … — since the
/// archive is unpacked on file systems that ignore it.
fn entry_names(files: &[file::Model]) -> Vec<String> {
    let mut used = HashSet::with_capacity(files.len());
    files
        .iter()
        .map(|f| {
            let base = naming::sanitize(&f.name).unwrap_or_else(|| f.id.clone());
            let (stem, ext) = match base.rfind('.') {
                Some(dot) if dot > 0 => base.split_at(dot),
                _ => (base.as_str(), ""),
            };
            let mut name = base.clone();
            let mut n = 2;
            while !used.insert(name.to_lowercase()) {
                name = format!("{stem} ({n}){ext}");
                n += 1;
            }
            name
        })
        .collect()
}

struct Entry {
    file: file::Model,
    size: u64,
    name: String,
    slot: Option<SlotGuard>,
}

/// Whether 32-bit ZIP fields could overflow: an upper bound of the archive's size from the sizes
/// of its entries, their headers (local 30 + name, descriptor 16, central 46 + name) and the end
/// record (22).
fn needs_zip64(entries: &[Entry]) -> bool {
    let limit = u64::from(u32::MAX);
    let mut bound: u64 = 22;
    for e in entries {
        let name = e.name.len() as u64;
        bound = bound.saturating_add(e.size.saturating_add(92 + 2 * name));
    }
    bound > limit
}

fn zip_entry(entry: &Entry) -> ZipEntry {
    let t = entry.file.created_at;
    // DOS dates start in 1980; the server's clock says UTC.
    let modified = ZipDateTimeBuilder::new()
        .year(t.year().max(1980))
        .month(t.month())
        .day(t.day())
        .hour(t.hour())
        .minute(t.minute())
        .second(t.second())
        .build();
    ZipEntryBuilder::new(entry.name.clone().into(), Compression::Stored)
        .last_modification_date(modified)
        // A regular file, rw-r--r--, so unzip does not make it executable or private.
        .unix_permissions(0o100644)
        .build()
}

/// Where the ZIP writer puts its bytes; the body stream takes them out after each write, so this
/// holds at most one chunk plus headers.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<BytesMut>>);

impl Output {
    fn buffer(&self) -> MutexGuard<'_, BytesMut> {
        // Only this stream's own task ever holds the lock, and never across a panic it survives.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take(&self) -> Bytes {
        self.buffer().split().freeze()
    }
}

impl futures_util::io::AsyncWrite for Output {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.buffer().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The live downloads of a bundle. Dropped unfinished (the client left, or a read failed), each
/// publishes `download.aborted`, with `failed` as the reason once something went wrong here.
#[derive(Default)]
struct Watch {
    transfers: Vec<Transfer>,
    failed: bool,
}

impl Watch {
    fn fail(&mut self, e: impl Into<io::Error>) -> io::Error {
        let e = e.into();
        tracing::error!(error = %e, "streaming a ZIP bundle failed");
        self.failed = true;
        e
    }

    fn advance(&mut self, n: usize) {
        if let Some(t) = self.transfers.last_mut() {
            t.advance(n as u64);
        }
    }

    fn abort_all(&mut self, reason: &'static str) {
        for t in &mut self.transfers {
            t.set_abort_reason(reason);
        }
    }

    fn finish(&mut self) {
        for t in self.transfers.drain(..) {
            t.finish();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.failed {
            self.abort_all("failed");
        }
    }
}

enum Counted {
    Yes,
    LimitReached,
    Failed,
}

/// Everything the body stream owns: dropping it (the client went away) drops the transfers
/// (`download.aborted`) and frees the slots.
struct Bundler {
    state: AppState,
    user: Principal,
    entries: Vec<Entry>,
    zip64: bool,
    _gauge: metrics::DownloadInFlight,
}

impl Bundler {
    fn run(self) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
        async_stream::try_stream! {
            let this = self;
            let out = Output::default();
            let mut zip = ZipFileWriter::new(out.clone());
            if !this.zip64 {
                zip = zip.force_no_zip64();
            }
            let mut watch = Watch::default();
            for entry in &this.entries {
                watch.transfers.push(Transfer::download(
                    this.state.realtime(),
                    uuid::Uuid::now_v7().to_string(),
                    &entry.file.id,
                    Via::Api,
                    Some((&this.user).into()),
                    Some(entry.size),
                    0,
                ));
                let mut writer = zip
                    .write_entry_stream(zip_entry(entry))
                    .await
                    .map_err(|e| watch.fail(io::Error::other(e)))?;
                let mut chunks = this
                    .state
                    .storage()
                    .open(&entry.file.storage_key, 0..entry.size)
                    .await
                    .map_err(|e| watch.fail(io::Error::other(e)))?;
                let mut sent = 0u64;
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.map_err(|e| watch.fail(e))?;
                    sent += chunk.len() as u64;
                    if sent > entry.size {
                        Err(watch.fail(io::Error::other("stored file is longer than its record")))?;
                    }
                    writer.write_all(&chunk).await.map_err(|e| watch.fail(e))?;
                    watch.advance(chunk.len());
                    let ready = out.take();
                    if !ready.is_empty() {
                        yield ready;
                    }
                }
                if sent != entry.size {
                    Err(watch.fail(io::Error::other("stored file is shorter than its record")))?;
                }
                writer.close().await.map_err(|e| watch.fail(io::Error::other(e)))?;
            }
            zip.close().await.map_err(|e| watch.fail(io::Error::other(e)))?;
            // The central directory is still held back: count first, so a refused count leaves
            // the client without a readable archive.
            match this.count(&watch).await {
                Counted::Yes => watch.finish(),
                Counted::LimitReached => {
                    watch.abort_all("limit_reached");
                    Err(io::Error::other("download limit reached"))?;
                }
                Counted::Failed => {
                    watch.failed = true;
                    Err(io::Error::other("counting the downloads failed"))?;
                }
            }
            yield out.take();
        }
    }

    async fn count(&self, watch: &Watch) -> Counted {
        let done: Vec<CompletedDownload<'_>> = self
            .entries
            .iter()
            .zip(&watch.transfers)
            .map(|(entry, transfer)| CompletedDownload {
                download_id: &transfer.id,
                file_id: &entry.file.id,
                link_token: None,
                via: Via::Api.as_str(),
                bytes: entry.size,
                duration_ms: u64::try_from(transfer.elapsed().as_millis()).unwrap_or(u64::MAX),
                actor: Some(&self.user),
                slot: entry.slot.as_ref(),
            })
            .collect();
        match service::count_downloads(self.state.writer(), &done).await {
            Ok(Some(_)) => Counted::Yes,
            Ok(None) => Counted::LimitReached,
            Err(e) => {
                tracing::error!(error = %e, "counting the downloads of a ZIP bundle failed");
                Counted::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, name: &str) -> file::Model {
        let now = Utc::now();
        file::Model {
            id: id.into(),
            name: name.into(),
            name_lower: name.to_lowercase(),
            size: 0,
            content_type: "text/plain".into(),
            sha256: String::new(),
            storage_key: id.into(),
            uploaded_by: None,
            created_at: now,
            updated_at: now,
            download_count: 0,
            expires_at: None,
            max_downloads: None,
            version: 1,
        }
    }

    #[test]
    fn names_are_sanitised_and_unique_ignoring_case() {
        let files: Vec<_> = [
            "a.txt",
            "A.TXT",
            "a (2).txt",
            "../../etc/passwd",
            "..",
            "noext",
            "noext",
            ".hidden",
            "x\u{0}y\u{202E}.bin",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| model(&format!("id{i}"), n))
        .collect();
        assert_eq!(
            entry_names(&files),
            [
                "a.txt",
                "A (2).TXT",
                "a (2) (2).txt",
                "passwd",
                "id4",
                "noext",
                "noext (2)",
                "hidden",
                "xy.bin",
            ]
        );
    }

    #[test]
    fn selection_rules() {
        let ids = |n: usize| (0..n).map(|i| format!("f{i}")).collect::<Vec<_>>();
        let fields = |r: Result<Selection>| match r {
            Err(Error::Validation(f)) => f.into_keys().collect::<Vec<_>>(),
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(fields(Selection::parse(vec![], None)), ["ids"]);
        assert_eq!(fields(Selection::parse(ids(MAX_FILES + 1), None)), ["ids"]);
        assert_eq!(
            fields(Selection::parse(vec!["a".into(), "a".into()], Some("/"))),
            ["ids", "name"]
        );
        let s = Selection::parse(ids(MAX_FILES), Some("../Report")).expect("valid");
        assert_eq!(s.name, "Report.zip");
        let s = Selection::parse(ids(1), Some("photos.ZIP")).expect("valid");
        assert_eq!(s.name, "photos.ZIP");
        let s = Selection::parse(ids(1), None).expect("valid");
        assert!(s.name.starts_with("files-") && s.name.ends_with(".zip"));
    }

    #[test]
    fn claims_round_trip_and_refuse_anything_else() {
        let ids = vec![
            uuid::Uuid::now_v7().to_string(),
            "not-a-uuid".to_owned(),
            uuid::Uuid::now_v7().to_string().to_uppercase(),
        ];
        let s = Selection::parse(ids, Some("été.zip")).expect("valid");
        let claim = s.to_claim();
        assert!(claim.starts_with(TICKET_MARK));
        assert_eq!(Selection::from_claim(&claim).expect("round trip"), s);
        let file_id = uuid::Uuid::now_v7().to_string();
        for bad in [
            file_id.as_str(),
            "zip1.",
            "zip1.!!",
            &claim[..claim.len() - 3],
        ] {
            assert!(
                matches!(Selection::from_claim(bad), Err(Error::Unauthorized(_))),
                "{bad}"
            );
        }
        // A full archive's claim stays small enough for a URL.
        let many = (0..MAX_FILES)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let claim = Selection::parse(many, None).expect("valid").to_claim();
        assert!(claim.len() < 23 * MAX_FILES, "{}", claim.len());
    }

    #[test]
    fn zip64_only_when_32_bit_fields_could_overflow() {
        let entry = |size: u64| Entry {
            file: model("f", "f"),
            size,
            name: "f".into(),
            slot: None,
        };
        assert!(!needs_zip64(&[entry(0), entry(1 << 20)]));
        assert!(!needs_zip64(&[entry(u64::from(u32::MAX) - 200)]));
        assert!(needs_zip64(&[entry(u64::from(u32::MAX))]));
        assert!(needs_zip64(&[entry(3 << 30), entry(2 << 30)]));
    }
}
