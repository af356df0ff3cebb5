//! The S3 (or S3-compatible) object store behind `--storage s3://bucket/prefix`.
//!
//! Credentials, region and endpoint come from the usual `AWS_*` variables (object_store's
//! `AmazonS3Builder::from_env`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …; without keys, the instance's role).
//! A custom endpoint (MinIO, a test server on loopback) gets path-style requests and may be
//! plain http. Nothing here logs the builder: it holds the secret key. Also opens the stores the
//! command line names: `--storage` (probed) and the backup location.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use object_store::{
    ClientConfigKey, ClientOptions, ObjectStore,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    prefix::PrefixStore,
};

use crate::{
    config::{BackupLocation, StorageLocation},
    storage::Storage,
};

/// How long the start-up probe of a remote store may take (it retries transient errors).
const STORAGE_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting must be quick; a request as a whole has no deadline, because a download streams
/// from the bucket only as fast as its client reads, which may take hours for a large file.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The bucket, with every key under `prefix` (empty: the bucket's root).
pub fn store(bucket: &str, prefix: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    // object_store's HTTP client speaks TLS through rustls; this build gives it the `ring`
    // provider (the one the rest of the binary already uses). An error means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let custom_endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::Endpoint)
        .is_some();
    // Replacing the client options drops the one client setting `from_env` reads.
    let allow_http = custom_endpoint
        || builder
            .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let options = ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_allow_http(allow_http);
    builder = builder.with_client_options(options);
    let s3 = builder
        .build()
        .with_context(|| format!("configuring the S3 bucket {bucket:?}"))?;
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    })
}

/// Where requests go, for the start-up log: the custom endpoint or AWS's, and the region.
pub fn describe_endpoint() -> String {
    let builder = AmazonS3Builder::from_env();
    let region = builder
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".into());
    match builder.get_config_value(&AmazonS3ConfigKey::Endpoint) {
        Some(endpoint) => format!("{endpoint} (region {region}, path-style)"),
        None => format!("AWS S3 (region {region})"),
    }
}

/// The store `--storage` names; a remote one is probed (write, read, delete a marker) so a
/// wrong bucket, endpoint or key stops the start with a message saying which.
pub async fn open_storage(location: &StorageLocation, data_dir: &Path) -> anyhow::Result<Storage> {
    let StorageLocation::S3 { bucket, prefix } = location else {
        return Ok(Storage::local(data_dir)?);
    };
    let endpoint = describe_endpoint();
    let storage = Storage::remote(store(bucket, prefix)?, data_dir, location.to_string())?;
    match tokio::time::timeout(STORAGE_PROBE_TIMEOUT, storage.probe()).await {
        Ok(Ok(())) => Ok(storage),
        Ok(Err(e)) => Err(anyhow::anyhow!(
            "storage {location} at {endpoint} is not usable (check the bucket, AWS_ENDPOINT_URL, \
             AWS_REGION and the credentials): {e}"
        )),
        Err(_) => Err(anyhow::anyhow!(
            "storage {location} at {endpoint} did not answer within {}s",
            STORAGE_PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// The backup location `--backup-to` / `--to` names (`<data-dir>/backups` by default).
pub fn open_backup_location(location: &BackupLocation, data_dir: &Path) -> anyhow::Result<Storage> {
    Ok(match location {
        BackupLocation::Default => Storage::directory(&data_dir.join("backups"), data_dir)?,
        BackupLocation::Dir(dir) => Storage::directory(dir, data_dir)?,
        BackupLocation::S3 { bucket, prefix } => {
            Storage::remote(store(bucket, prefix)?, data_dir, location.to_string())?
        }
    })
}
