//! `GET /api/backups/{id}/download`: one backup as a tar stream (`manifest.json`, the database
//! file, `objects/<aa>/<sha256>`), the very layout `switchboard backup restore` accepts as a
//! directory or as the `.tar` itself. Headers come from the `tar` crate; the bytes of each entry
//! are streamed from the backup location, so memory stays flat for any size.

use std::{collections::HashSet, io};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{
    create,
    manifest::{self, Manifest},
};
use crate::storage::Storage;

const BLOCK: usize = 512;

/// Every entry: its name in the archive, its key in the location, its size.
fn entries(m: &Manifest) -> Vec<(String, String, u64)> {
    let prefix = create::backup_prefix(&m.id);
    let mut out = vec![(
        m.database.name.clone(),
        format!("{prefix}/{}", m.database.name),
        m.database.size,
    )];
    let mut seen = HashSet::new();
    for o in &m.objects {
        if seen.insert(o.sha256.as_str()) {
            let key = manifest::object_key(&o.sha256);
            out.push((key.clone(), key, o.size));
        }
    }
    out
}

fn header(name: &str, size: u64, mtime: i64) -> io::Result<Bytes> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(u64::try_from(mtime).unwrap_or(0));
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(Bytes::copy_from_slice(h.as_bytes()))
}

fn padding(size: u64) -> Bytes {
    let rest = (size % BLOCK as u64) as usize;
    Bytes::from(vec![0u8; if rest == 0 { 0 } else { BLOCK - rest }])
}

/// The archive's exact length (for `Content-Length`).
pub fn length(m: &Manifest, manifest_len: u64) -> u64 {
    let entry = |size: u64| BLOCK as u64 + size.div_ceil(BLOCK as u64) * BLOCK as u64;
    entry(manifest_len) + entries(m).iter().map(|e| entry(e.2)).sum::<u64>() + 2 * BLOCK as u64
}

/// The archive. `manifest_bytes` is the manifest as stored.
pub fn stream(
    target: Storage,
    m: Manifest,
    manifest_bytes: Bytes,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    async_stream::try_stream! {
        let mtime = m.finished_at.timestamp();
        yield header("manifest.json", manifest_bytes.len() as u64, mtime)?;
        let len = manifest_bytes.len() as u64;
        yield manifest_bytes;
        yield padding(len);
        for (name, key, size) in entries(&m) {
            yield header(&name, size, mtime)?;
            let mut body = target
                .open(&key, 0..size)
                .await
                .map_err(|e| io::Error::other(e.to_string()))?;
            let mut sent = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                sent += chunk.len() as u64;
                yield chunk;
            }
            if sent != size {
                Err(io::Error::other(format!("{key} is shorter than the manifest says")))?;
            }
            yield padding(size);
        }
        yield Bytes::from(vec![0u8; 2 * BLOCK]);
    }
}
