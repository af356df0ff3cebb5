//! Where file bytes live: an `object_store` store (the local filesystem under the data dir by
//! default) plus the temp-file staging that gives uploads their guarantees.
//!
//! `object_store` alone cannot promise "durable before the row commits, nothing partial left":
//! so every upload is first written here to `tmp/<uuid>.part` by a blocking writer that hashes
//! and counts on the way and `fsync`s at the end; only then is it published under its final key
//! (a rename in the same filesystem, which `LocalFileSystem::with_fsync` makes durable including
//! the directory entry). Temp files of a crashed process are removed at start. A remote store
//! would publish with a multipart put from the temp file instead; nothing above this module
//! would change.

use std::{
    io::{self, Write},
    ops::Range,
    path::{Path as FsPath, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, local::LocalFileSystem,
    path::Path,
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

/// The file store. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<LocalFileSystem>,
    root: PathBuf,
}

/// A staged upload, written, hashed and fsynced, not yet published.
#[derive(Debug)]
pub struct StagedFile {
    key: Path,
    path: PathBuf,
    pub size: u64,
    pub sha256: String,
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
        Ok(Self {
            store: Arc::new(store),
            root: data_dir.canonicalize()?,
        })
    }

    /// Removes temp files left by a process that died mid-upload. Run at start.
    pub fn clean_tmp(&self) -> Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join(TMP_DIR))? {
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
        let path = self.root.join(TMP_DIR).join(&name);
        TempWriter::spawn(key, path)
    }

    /// Publishes a staged file under `key`, durably. After this returns, a crash keeps the bytes.
    pub async fn publish(&self, staged: StagedFile, key: &str) -> Result<()> {
        let to = Path::from(key);
        if let Err(e) = self.store.rename(&staged.key, &to).await {
            let _ = tokio::fs::remove_file(&staged.path).await;
            return Err(store_error(e));
        }
        Ok(())
    }

    /// Deletes a stored object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Keys of stored objects last modified before `before` (candidates for orphan cleanup).
    pub async fn objects_older_than(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>> {
        let prefix = Path::from(OBJECTS_DIR);
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_filter(|m| futures_util::future::ready(m.last_modified < before))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(store_error)?;
        Ok(metas)
    }

    /// Streams `range` of an object in large chunks, reading only as fast as it is consumed.
    pub async fn open(
        &self,
        key: &str,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let got = if range.is_empty() {
            return Ok(futures_util::stream::empty().boxed());
        } else {
            self.store
                .get_opts(&Path::from(key), opts)
                .await
                .map_err(store_error)?
        };
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
