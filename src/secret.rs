//! The JWT signing secret: from configuration, or generated once and kept in the data dir with
//! mode 0600.

use std::{
    fs::OpenOptions,
    io::{ErrorKind, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use anyhow::{Context, bail};
use rand::RngCore;

const FILE_NAME: &str = "jwt_secret";
const MIN_LEN: usize = 32;

pub fn jwt_secret(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = configured {
        if s.len() < MIN_LEN {
            bail!("--jwt-secret must be at least {MIN_LEN} characters");
        }
        return Ok(s.as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let path = data_dir.join(FILE_NAME);
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    let fresh = hex::encode(bytes);
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(fresh.as_bytes())?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), "generated JWT secret");
            Ok(fresh.into_bytes())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let stored = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let stored = stored.trim();
            if stored.len() < MIN_LEN {
                bail!(
                    "{} is too short; delete it to generate a new one",
                    path.display()
                );
            }
            Ok(stored.as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = jwt_secret(dir.path(), None).expect("generate");
        let b = jwt_secret(dir.path(), None).expect("reuse");
        assert_eq!(a, b);
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(jwt_secret(dir.path(), Some("short")).is_err());
    }
}
