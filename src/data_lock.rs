//! An exclusive lock on the data dir, held by a running server for its whole life, so that
//! `switchboard backup restore` can refuse to replace a database under a running server. An
//! advisory `flock`: the kernel releases it when the process dies, even by kill -9.

use std::{fs::File, path::Path};

use rustix::fs::{FlockOperation, flock};

const LOCK_FILE: &str = "switchboard.lock";

/// The held lock; dropping it releases it.
pub struct DataLock {
    _file: File,
}

/// Takes the lock, or says why not (`None`: another process holds it).
pub fn try_acquire(data_dir: &Path) -> std::io::Result<Option<DataLock>> {
    std::fs::create_dir_all(data_dir)?;
    use std::os::unix::fs::OpenOptionsExt as _;
    // Private like everything else in the data dir.
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(data_dir.join(LOCK_FILE))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(DataLock { _file: file })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
