//! Where file bytes live: an `object_store` store (the local filesystem under the data dir by
//! default) plus the temp-file staging that gives uploads their guarantees.
//!
//! `object_store` alone cannot promise "durable before the row commits, nothing partial left":
//! so every upload is first written to this instance's own `<data-dir>/tmp/<uuid>.part` by a
//! blocking writer that hashes and counts on the way and `fsync`s at the end; only then is it
//! published under its final key. On the local store publishing is a rename in the same
//! filesystem (`LocalFileSystem::with_fsync` makes it durable including the directory entry);
//! on a remote store it is a streamed multipart put from the temp file, so a file is never held
//! whole in memory. Temp files stay on the instance that wrote them, so one instance's start-up
//! cleanup never touches another's uploads in flight.

use std::{
    io::{self, Write},
    ops::Range,
    path::{Path as FsPath, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
    local::LocalFileSystem, path::Path,
};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncReadExt, AsyncSeekExt},
    sync::{mpsc, oneshot},
};
use tokio_util::io::ReaderStream;

use crate::error::{Error, Result};

const TMP_DIR: &str = "tmp";
const OBJECTS_DIR: &str = "objects";
/// Read size when streaming a stored file: large enough for loopback throughput, small enough
/// that 50 concurrent downloads stay a few MiB.
const READ_CHUNK: usize = 256 * 1024;
/// Part size of a multipart put to a remote store (S3 wants at least 5 MiB but the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one multipart put in flight at once: memory per upload is about this × PART_SIZE.
const PARTS_IN_FLIGHT: usize = 2;

/// The file store. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The local store's root, where publishing is a rename; `None` for a remote store.
    local_root: Option<PathBuf>,
    /// This instance's staging directory (always on local disk).
    tmp: PathBuf,
    /// Shown in logs: `file` or `s3://bucket/prefix`.
    description: String,
    /// Deletions put off while a backup copies objects (see [`Storage::hold_deletions`]).
    holds: Arc<std::sync::Mutex<Holds>>,
}

#[derive(Default)]
struct Holds {
    count: usize,
    deferred: Vec<String>,
}

/// While alive, deleting a file's object only records the key; the last guard to go deletes
/// them. A backup takes one before its database snapshot, so an object deleted after the
/// snapshot is still there to be copied (docs/ARCHITECTURE.md, "Backups"). A crash loses the
/// list, and the orphan sweep removes those objects an hour later.
pub struct DeletionHold {
    storage: Storage,
}

impl Drop for DeletionHold {
    fn drop(&mut self) {
        let due = {
            let mut holds = self.storage.lock_holds();
            holds.count = holds.count.saturating_sub(1);
            if holds.count > 0 {
                return;
            }
            std::mem::take(&mut holds.deferred)
        };
        if due.is_empty() {
            return;
        }
        let storage = self.storage.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for key in due {
                    if let Err(e) = storage.delete(&key).await {
                        tracing::warn!(error = %e, %key, "could not delete stored bytes");
                    }
                }
            });
        }
    }
}

/// A staged upload, written, hashed and fsynced, not yet published.
#[derive(Debug)]
pub struct StagedFile {
    key: Path,
    path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// One stored object, as listed.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

impl Storage {
    /// The local store under `data_dir`; creates its directories.
    pub fn local(data_dir: &FsPath) -> Result<Self> {
        for dir in [TMP_DIR, OBJECTS_DIR] {
            std::fs::create_dir_all(data_dir.join(dir))?;
        }
        let store = LocalFileSystem::new_with_prefix(data_dir)
            .map_err(store_error)?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        let root = data_dir.canonicalize()?;
        Ok(Self {
            store: Arc::new(store),
            tmp: root.join(TMP_DIR),
            local_root: Some(root),
            description: "file".into(),
            holds: Arc::default(),
        })
    }

    /// A remote store (built by the caller from `--storage`), staging under `data_dir/tmp`.
    pub fn remote(
        store: Arc<dyn ObjectStore>,
        data_dir: &FsPath,
        description: String,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir.join(TMP_DIR))?;
        Ok(Self {
            store,
            tmp: data_dir.canonicalize()?.join(TMP_DIR),
            local_root: None,
            description,
            holds: Arc::default(),
        })
    }

    /// A directory of the local filesystem as a store (a backup target), durable like the
    /// local file store; staging still under `data_dir/tmp`.
    pub fn directory(dir: &FsPath, data_dir: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::create_dir_all(data_dir.join(TMP_DIR))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(store_error)?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            tmp: data_dir.canonicalize()?.join(TMP_DIR),
            local_root: Some(dir.canonicalize()?),
            description: dir.display().to_string(),
            holds: Arc::default(),
        })
    }

    fn lock_holds(&self) -> std::sync::MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts off deleting file objects until the guard is dropped.
    pub fn hold_deletions(&self) -> DeletionHold {
        self.lock_holds().count += 1;
        DeletionHold {
            storage: self.clone(),
        }
    }

    /// This instance's staging directory.
    pub fn tmp_dir(&self) -> &FsPath {
        &self.tmp
    }

    /// The size of an object, or `None` if there is none under `key`.
    pub async fn head(&self, key: &str) -> Result<Option<u64>> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// A small object, whole (a manifest).
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        let got = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(store_error)?;
        got.bytes().await.map_err(store_error)
    }

    /// Writes a small object in one put: it appears whole or not at all.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&Path::from(key), bytes.into())
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// Streams a local file into `key`; returns its size and sha256.
    pub async fn put_file(&self, key: &str, path: &FsPath) -> Result<(u64, String)> {
        let file = tokio::fs::File::open(path).await?;
        self.put_stream(key, ReaderStream::with_capacity(file, READ_CHUNK))
            .await
    }

    /// Whether this is a remote store (reachable over the network, so worth probing).
    pub fn is_remote(&self) -> bool {
        self.local_root.is_none()
    }

    /// Proves the store usable before the server takes requests: lists (the bucket exists and
    /// may be listed, as the orphan sweep needs), then writes, reads back and deletes a small
    /// marker (so missing permissions show now, not at the first upload).
    pub async fn probe(&self) -> Result<()> {
        self.ping().await?;
        let key = Path::from(format!("{TMP_DIR}/probe-{}", uuid::Uuid::new_v4()));
        let marker = Bytes::from_static(b"switchboard storage probe");
        self.store
            .put(&key, marker.clone().into())
            .await
            .map_err(store_error)?;
        let read = self.store.get(&key).await.map_err(store_error)?;
        let read = read.bytes().await.map_err(store_error);
        // Delete first, whatever the read gave: the marker must not stay behind.
        self.store.delete(&key).await.map_err(store_error)?;
        if read? != marker {
            return Err(Error::Io(io::Error::other(
                "the store returned other bytes than were written",
            )));
        }
        Ok(())
    }

    /// A cheap round trip for `/readyz`: one listing under a prefix where nothing lives.
    pub async fn ping(&self) -> Result<()> {
        let prefix = Path::from(format!("{TMP_DIR}/ping"));
        self.store
            .list_with_delimiter(Some(&prefix))
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// `file` or the remote store's URL, for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Removes temp files left by a process that died mid-upload. Run at start. Only this
    /// instance's own staging directory: never another instance's data.
    pub fn clean_tmp(&self) -> Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The object key of a file id: fanned out over 256 directories by the id's last characters
    /// (UUIDv7 ids share their leading, time-based characters).
    pub fn key_for(file_id: &str) -> String {
        let tail = file_id.len().saturating_sub(2);
        let fan = file_id.get(tail..).unwrap_or("00");
        format!("{OBJECTS_DIR}/{fan}/{file_id}")
    }

    /// Starts a temp file; feed it with [`TempWriter::write`], then [`TempWriter::finish`].
    /// Dropping the writer unfinished removes the file.
    pub fn temp_writer(&self) -> TempWriter {
        let name = format!("{}.part", uuid::Uuid::new_v4());
        let key = Path::from(format!("{TMP_DIR}/{name}"));
        let path = self.tmp.join(&name);
        TempWriter::spawn(key, path)
    }

    /// Publishes a staged file under `key`, durably. After this returns, a crash keeps the bytes.
    /// The temp file is gone afterwards, whatever the outcome.
    pub async fn publish(&self, staged: StagedFile, key: &str) -> Result<()> {
        let to = Path::from(key);
        if self.local_root.is_some() {
            if let Err(e) = self.store.rename(&staged.key, &to).await {
                let _ = tokio::fs::remove_file(&staged.path).await;
                return Err(store_error(e));
            }
            return Ok(());
        }
        let file = tokio::fs::File::open(&staged.path).await?;
        let body = ReaderStream::with_capacity(file, READ_CHUNK);
        // `staged` is dropped at the end of this function, removing the temp file.
        self.put_stream(key, body).await.map(|_| ())
    }

    /// Writes `body` to `key` as a streamed multipart put (bounded memory), hashing on the way;
    /// returns the size and sha256. On any error the multipart upload is aborted and nothing is
    /// left under `key`.
    pub async fn put_stream(
        &self,
        key: &str,
        body: impl Stream<Item = io::Result<Bytes>>,
    ) -> Result<(u64, String)> {
        let upload = self
            .store
            .put_multipart(&Path::from(key))
            .await
            .map_err(store_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        let copied: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(store_error)?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        match copied {
            Ok(()) => {
                writer.finish().await.map_err(store_error)?;
                Ok((size, hex::encode(hasher.finalize())))
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes a stored object; a missing one is not an error. A file object is only noted
    /// while a backup holds deletions.
    pub async fn delete(&self, key: &str) -> Result<()> {
        if key.starts_with(OBJECTS_DIR) {
            let mut holds = self.lock_holds();
            if holds.count > 0 {
                holds.deferred.push(key.to_owned());
                return Ok(());
            }
        }
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Every object under `prefix` (a "directory" such as `uploads/<id>`), recursively.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let prefix = Path::from(prefix);
        self.store
            .list(Some(&prefix))
            .map_ok(|m| ObjectInfo {
                key: m.location.to_string(),
                size: m.size,
                last_modified: m.last_modified,
            })
            .try_collect()
            .await
            .map_err(store_error)
    }

    /// Deletes every object under `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let objects = self.list(prefix).await?;
        for o in &objects {
            self.delete(&o.key).await?;
        }
        Ok(objects.len())
    }

    /// Keys of stored objects last modified before `before` (candidates for orphan cleanup).
    pub async fn objects_older_than(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>> {
        Ok(self
            .list(OBJECTS_DIR)
            .await?
            .into_iter()
            .filter(|o| o.last_modified < before)
            .map(|o| o.key)
            .collect())
    }

    /// Streams `range` of an object in large chunks, reading only as fast as it is consumed.
    pub async fn open(
        &self,
        key: &str,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        if range.is_empty() {
            return Ok(futures_util::stream::empty().boxed());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let got = self
            .store
            .get_opts(&Path::from(key), opts)
            .await
            .map_err(store_error)?;
        match got.payload {
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(io::SeekFrom::Start(range.start)).await?;
                let reader = file.take(range.end - range.start);
                Ok(ReaderStream::with_capacity(reader, READ_CHUNK).boxed())
            }
            GetResultPayload::Stream(s) => Ok(s.map_err(io::Error::other).boxed()),
        }
    }

    /// Copies an object, replacing `to`: a hard link and a rename on the local store, a
    /// server-side copy on a remote one (S3 copies objects up to 5 GiB so).
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        self.store
            .copy(&Path::from(from), &Path::from(to))
            .await
            .map_err(store_error)
    }
}

fn store_error(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound("stored file"),
        other => Error::Io(io::Error::other(other)),
    }
}

enum Msg {
    Data(Bytes),
    Finish(oneshot::Sender<io::Result<(u64, String)>>),
}

/// Writes a temp file on a blocking thread, hashing (sha256) and counting on the way; the
/// bounded channel gives backpressure to the request body.
pub struct TempWriter {
    tx: Option<mpsc::Sender<Msg>>,
    key: Path,
    path: PathBuf,
}

impl TempWriter {
    fn spawn(key: Path, path: PathBuf) -> Self {
        let (tx, rx) = mpsc::channel::<Msg>(8);
        let worker_path = path.clone();
        tokio::task::spawn_blocking(move || write_loop(&worker_path, rx));
        Self {
            tx: Some(tx),
            key,
            path,
        }
    }

    /// Appends bytes (waits while the writer is behind).
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        let tx = self.tx.as_ref().ok_or_else(writer_gone)?;
        tx.send(Msg::Data(data)).await.map_err(|_| writer_gone())
    }

    /// Flushes and fsyncs; returns the staged file with its size and sha256.
    pub async fn finish(mut self) -> Result<StagedFile> {
        let tx = self.tx.take().ok_or_else(writer_gone)?;
        let (done_tx, done_rx) = oneshot::channel();
        tx.send(Msg::Finish(done_tx))
            .await
            .map_err(|_| writer_gone())?;
        let (size, sha256) = done_rx.await.map_err(|_| writer_gone())??;
        Ok(StagedFile {
            key: self.key.clone(),
            path: self.path.clone(),
            size,
            sha256,
        })
    }
}

fn writer_gone() -> Error {
    Error::Io(io::Error::other("temp file writer stopped"))
}

/// The blocking side: write, hash, and on `Finish` fsync. If the sender goes away without
/// finishing (client gone, limit hit), or anything fails, the temp file is removed.
fn write_loop(path: &FsPath, mut rx: mpsc::Receiver<Msg>) {
    let result = (|| -> io::Result<Option<(oneshot::Sender<_>, u64, String)>> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Data(bytes) => {
                    hasher.update(&bytes);
                    out.write_all(&bytes)?;
                    size += bytes.len() as u64;
                }
                Msg::Finish(done) => {
                    let file = out.into_inner().map_err(|e| e.into_error())?;
                    file.sync_all()?;
                    return Ok(Some((done, size, hex::encode(hasher.finalize()))));
                }
            }
        }
        Ok(None)
    })();
    match result {
        Ok(Some((done, size, sha))) => {
            if done.send(Ok((size, sha))).is_err() {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(None) => {
            let _ = std::fs::remove_file(path);
        }
        Err(e) => {
            let _ = std::fs::remove_file(path);
            // Tell a waiting `finish` why; a plain `write` sees the channel close.
            while let Some(msg) = rx.blocking_recv() {
                if let Msg::Finish(done) = msg {
                    let _ = done.send(Err(io::Error::new(e.kind(), e.to_string())));
                    break;
                }
            }
        }
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Published files have been renamed away; this only removes an unpublished one.
        let _ = std::fs::remove_file(&self.path);
    }
}
