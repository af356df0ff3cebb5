//! The file store a test server writes to, seen from the test: the data dir's local store by
//! default, or with `SWITCHBOARD_TEST_STORAGE=s3` an S3 bucket (`SWITCHBOARD_TEST_S3_BUCKET`,
//! with the usual `AWS_*` variables naming the endpoint and credentials: `.ci/s3-server start`
//! prints them) under a random prefix per [`super::TestEnv`], deleted when that is dropped.
//!
//! Both are read through the `object_store` crate (a real S3 client for the bucket), so a test
//! asks "which objects are stored" the same way on either backend. The calls are synchronous
//! (run on one runtime of their own) so they fit inside `poll_until` closures and plain asserts.

use std::future::Future;
use std::path::Path as FsPath;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt as _, aws::AmazonS3Builder, local::LocalFileSystem,
    path::Path, prefix::PrefixStore,
};
use sha2::{Digest as _, Sha256};

/// True when the suite runs against an S3 bucket.
pub fn is_s3() -> bool {
    std::env::var("SWITCHBOARD_TEST_STORAGE").is_ok_and(|v| v.eq_ignore_ascii_case("s3"))
}

/// One stored object as listed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredObject {
    /// Relative to the store's root (the data dir, or the test's prefix in the bucket):
    /// `objects/<2 chars>/<id>`.
    pub key: String,
    pub size: u64,
}

/// Where a test environment's server keeps file bytes.
#[derive(Clone)]
pub struct TestStore {
    store: Arc<dyn ObjectStore>,
    /// `--storage` for the server: `None` for the default local store.
    pub storage_arg: Option<String>,
    /// The bucket and prefix on S3 (what dropping the owning environment deletes).
    pub s3: Option<(String, String)>,
}

impl TestStore {
    /// The local store under `data_dir`, or a fresh random prefix in the test bucket.
    pub fn new(data_dir: &FsPath) -> TestStore {
        if !is_s3() {
            let store = LocalFileSystem::new_with_prefix(data_dir)
                .unwrap_or_else(|e| panic!("local store at {}: {e}", data_dir.display()));
            return TestStore {
                store: Arc::new(store),
                storage_arg: None,
                s3: None,
            };
        }
        let bucket = std::env::var("SWITCHBOARD_TEST_S3_BUCKET").unwrap_or_else(|_| {
            panic!(
                "SWITCHBOARD_TEST_STORAGE=s3 needs SWITCHBOARD_TEST_S3_BUCKET and the AWS_* \
                 variables (see `.ci/s3-server start`)"
            )
        });
        // Short: s3s-fs names a file after the whole key (base64) while a multipart upload
        // runs, and file names end at 255 bytes; 48 random bits are plenty for one run.
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        TestStore {
            store: Arc::new(PrefixStore::new(s3_bucket(&bucket), prefix.as_str())),
            storage_arg: Some(format!("s3://{bucket}/{prefix}")),
            s3: Some((bucket, prefix)),
        }
    }

    /// Every object under `prefix` (e.g. `objects`), sorted by key.
    pub fn list(&self, prefix: &str) -> Vec<StoredObject> {
        let store = self.store.clone();
        let prefix = Path::from(prefix);
        let mut found: Vec<StoredObject> = run(async move {
            store
                .list(Some(&prefix))
                .map_ok(|m| StoredObject {
                    key: m.location.to_string(),
                    size: m.size,
                })
                .try_collect()
                .await
        })
        .unwrap_or_else(|e| panic!("list the store: {e}"));
        found.sort();
        found
    }

    /// The bytes of `key`, or `None` if there is no such object.
    pub fn read(&self, key: &str) -> Option<Vec<u8>> {
        let store = self.store.clone();
        let path = Path::from(key);
        let got = run(async move {
            match store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.unwrap_or_else(|e| panic!("read {key} from the store: {e}"))
            .map(|b| b.to_vec())
    }

    /// Size and lowercase hex sha256 of `key`, streamed (not held whole); `None` if missing.
    pub fn digest(&self, key: &str) -> Option<(u64, String)> {
        let store = self.store.clone();
        let path = Path::from(key);
        let got = run(async move {
            let mut stream = match store.get(&path).await {
                Ok(r) => r.into_stream(),
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let (mut hasher, mut size) = (Sha256::new(), 0u64);
            while let Some(chunk) = stream.try_next().await? {
                hasher.update(&chunk);
                size += chunk.len() as u64;
            }
            Ok(Some((size, hex::encode(hasher.finalize()))))
        });
        got.unwrap_or_else(|e| panic!("read {key} from the store: {e}"))
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> bool {
        let store = self.store.clone();
        let path = Path::from(key);
        match run(async move { store.head(&path).await }) {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => panic!("HEAD {key} in the store: {e}"),
        }
    }

    /// Writes `bytes` to `key` directly (as a crashed server could have left them).
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let store = self.store.clone();
        let path = Path::from(key);
        let bytes = Bytes::copy_from_slice(bytes);
        run(async move { store.put(&path, bytes.into()).await })
            .unwrap_or_else(|e| panic!("write {key} to the store: {e}"));
    }

    /// Deletes every object under this store's root; returns how many.
    pub fn delete_all(&self) -> Result<usize, object_store::Error> {
        let store = self.store.clone();
        run(async move {
            let all: Vec<Path> = store
                .list(None)
                .map_ok(|m| m.location)
                .try_collect()
                .await?;
            for key in &all {
                store.delete(key).await?;
            }
            Ok::<_, object_store::Error>(all.len())
        })
    }

    /// Sets the object's last-modified time, which only a local store allows (`None` on S3).
    pub fn set_modified(&self, key: &str, data_dir: &FsPath, when: SystemTime) -> Option<()> {
        if self.s3.is_some() {
            return None;
        }
        let path = data_dir.join(key);
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        file.set_modified(when)
            .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
        Some(())
    }
}

/// The test bucket through the `AWS_*` environment, as the server sees it.
fn s3_bucket(bucket: &str) -> impl ObjectStore {
    let _ = rustls::crypto::ring::default_provider().install_default();
    AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()
        .unwrap_or_else(|e| panic!("S3 client for bucket {bucket}: {e}"))
}

/// Runs `fut` to completion on the store's own runtime, from sync or async test code alike
/// (its HTTP connections live on that runtime, which lasts as long as the test binary).
fn run<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-store")
            .enable_all()
            .build()
            .expect("build the test store's runtime")
    });
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .expect("the test store's task ended without an answer")
}
