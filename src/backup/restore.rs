//! `switchboard backup restore ID|DIR|FILE.tar`, with the server stopped (docs/API.md §8.3).
//!
//! Order matters: (1) read the manifest and refuse a newer schema or another database backend;
//! (2) verify the database file and every object against their sha256 — nothing has been
//! touched yet; (3) prepare the new database beside the live one (integrity check, migrations,
//! a new log epoch); (4) put back the objects the file store lacks; (5) swap: the live database
//! moves to `<data-dir>/restore-aside/<time>/`, the prepared one takes its place. A failure
//! before (5) leaves the live database as it was; the aside copy stays until the operator
//! removes it.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use futures_util::StreamExt;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{
    create,
    manifest::{self, Manifest},
};
use crate::{data_lock, db::Db, realtime::log, storage::Storage};

/// Where the backup's files are read from: a store and the prefix of the backup's own files
/// (objects are always under `objects/`).
pub struct Source {
    pub store: Storage,
    pub prefix: String,
    /// A directory unpacked from a `.tar`, removed afterwards.
    pub unpacked: Option<PathBuf>,
}

impl Source {
    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }
}

/// What `restore` did.
pub struct Restored {
    pub manifest: Manifest,
    pub objects_written: usize,
    pub aside: PathBuf,
    pub epoch: String,
}

/// Resolves `source`: a `.tar` file (unpacked under `data_dir/tmp`), a directory with a
/// `manifest.json`, or the id of a backup in `location`.
pub async fn open_source(
    source: &str,
    location: Option<Storage>,
    data_dir: &Path,
) -> anyhow::Result<Source> {
    let path = Path::new(source);
    if path.is_file() {
        let dir = data_dir
            .join("tmp")
            .join(format!("restore-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let (file, target) = (path.to_owned(), dir.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // `unpack` refuses entries that would land outside `target`.
            tar::Archive::new(std::fs::File::open(file)?).unpack(target)
        })
        .await?
        .with_context(|| format!("unpacking {source}"))?;
        return Ok(Source {
            store: Storage::directory(&dir, data_dir)?,
            prefix: String::new(),
            unpacked: Some(dir),
        });
    }
    if path.is_dir() && path.join("manifest.json").is_file() {
        return Ok(Source {
            store: Storage::directory(path, data_dir)?,
            prefix: String::new(),
            unpacked: None,
        });
    }
    if manifest::is_id(source) {
        let store = location.context("no backup location")?;
        return Ok(Source {
            store,
            prefix: create::backup_prefix(source),
            unpacked: None,
        });
    }
    bail!("{source:?} is neither a backup id, a backup directory nor a backup .tar file")
}

/// Restores `source` into the database at `database_url` and the file store `live`.
pub async fn restore(
    source: &Source,
    database_url: &str,
    data_dir: &Path,
    live: &Storage,
) -> anyhow::Result<Restored> {
    let Some(_lock) = data_lock::try_acquire(data_dir)? else {
        bail!(
            "a server is running on {} — stop it (and every other instance) before restoring",
            data_dir.display()
        );
    };
    // (1) The manifest.
    let bytes = source
        .store
        .get_bytes(&source.key("manifest.json"))
        .await
        .map_err(|e| anyhow::anyhow!("no readable manifest: {e} (an incomplete backup?)"))?;
    let manifest = Manifest::parse(&bytes)?;
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let newer = manifest.unknown_migrations(&known);
    if !newer.is_empty() {
        bail!(
            "backup {} is from a newer schema (migrations {} are unknown to this version {}); \
             restore it with that version or later",
            manifest.id,
            newer.join(", "),
            env!("CARGO_PKG_VERSION")
        );
    }
    let postgres = !database_url.starts_with("sqlite");
    let backend = if postgres { "postgres" } else { "sqlite" };
    if manifest.database.backend != backend {
        bail!(
            "backup {} holds a {} database; this deployment uses {backend}",
            manifest.id,
            manifest.database.backend
        );
    }

    // (2) Verify everything before touching anything.
    let tmp = data_dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let staged = tmp.join(format!(
        "restore-{}.{}",
        manifest.id, manifest.database.name
    ));
    let result = async {
        let (size, sha) = download(source, &manifest.database.name, &staged).await?;
        if size != manifest.database.size || sha != manifest.database.sha256 {
            bail!("the database file does not match the manifest's sha256: the backup is damaged");
        }
        let mut seen = HashSet::new();
        for o in manifest.objects.iter().filter(|o| seen.insert(&o.sha256)) {
            let (size, sha) = hash_object(&source.store, &manifest::object_key(&o.sha256))
                .await
                .with_context(|| format!("the object of file {} is missing", o.file_id))?;
            if size != o.size || sha != o.sha256 {
                bail!(
                    "the object of file {} does not match its sha256: the backup is damaged",
                    o.file_id
                );
            }
        }
        // (3)…(5)
        if postgres {
            restore_postgres(&manifest, &staged, database_url, data_dir, source, live).await
        } else {
            restore_sqlite(&manifest, &staged, database_url, data_dir, source, live).await
        }
    }
    .await;
    let _ = tokio::fs::remove_file(&staged).await;
    result
}

/// Streams a backup file to `to`, hashing it.
async fn download(source: &Source, name: &str, to: &Path) -> anyhow::Result<(u64, String)> {
    let mut out = tokio::fs::File::create(to).await?;
    let digest = read_hashed(&source.store, &source.key(name), Some(&mut out))
        .await
        .with_context(|| format!("the backup has no readable {name}"))?;
    out.sync_all().await?;
    Ok(digest)
}

async fn hash_object(store: &Storage, key: &str) -> anyhow::Result<(u64, String)> {
    read_hashed(store, key, None).await
}

/// Reads a whole object, hashing it (and copying it to `out`); its size and sha256.
async fn read_hashed(
    store: &Storage,
    key: &str,
    mut out: Option<&mut tokio::fs::File>,
) -> anyhow::Result<(u64, String)> {
    let size = store.head(key).await?.context("not in the backup")?;
    let mut body = store.open(key, 0..size).await?;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        n += chunk.len() as u64;
        if let Some(out) = out.as_deref_mut() {
            out.write_all(&chunk).await?;
        }
    }
    Ok((n, hex::encode(hasher.finalize())))
}

/// (4) Every object the file store lacks, checked again on the way in.
async fn put_objects(
    manifest: &Manifest,
    source: &Source,
    live: &Storage,
) -> anyhow::Result<usize> {
    let mut written = 0;
    for o in &manifest.objects {
        if live.head(&o.storage_key).await? == Some(o.size) {
            continue;
        }
        let key = manifest::object_key(&o.sha256);
        let body = source.store.open(&key, 0..o.size).await?;
        let (size, sha) = live.put_stream(&o.storage_key, body).await?;
        if size != o.size || sha != o.sha256 {
            let _ = live.delete(&o.storage_key).await;
            bail!(
                "the object of file {} changed while it was restored",
                o.file_id
            );
        }
        written += 1;
    }
    Ok(written)
}

/// (3) on a prepared database: integrity, migrations, a new epoch.
async fn prepare(url: &str) -> anyhow::Result<String> {
    let db = Db::connect(url, Some(1)).await?;
    let result = async {
        if db.backend() == DbBackend::Sqlite {
            let row = db
                .conn()
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA integrity_check",
                ))
                .await?
                .context("integrity_check returned nothing")?;
            let verdict: String = row.try_get_by_index(0)?;
            if verdict != "ok" {
                bail!("the backup's database fails PRAGMA integrity_check: {verdict}");
            }
        }
        db.migrate().await?;
        let epoch = log::renew_epoch(db.conn()).await?;
        if db.backend() == DbBackend::Sqlite {
            db.conn()
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
        Ok(epoch)
    }
    .await;
    db.close().await;
    result
}

const SQLITE_SUFFIXES: [&str; 3] = ["", "-wal", "-shm"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn aside_dir(data_dir: &Path) -> PathBuf {
    data_dir
        .join("restore-aside")
        .join(chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string())
}

async fn restore_sqlite(
    manifest: &Manifest,
    staged: &Path,
    database_url: &str,
    data_dir: &Path,
    source: &Source,
    live: &Storage,
) -> anyhow::Result<Restored> {
    let live_db = PathBuf::from(
        crate::db::sqlite_path(database_url).context("restore needs a SQLite file, not memory")?,
    );
    let epoch = prepare(&format!("sqlite://{}?mode=rw", staged.display())).await?;
    let objects_written = put_objects(manifest, source, live).await?;
    // (5) The swap: every step a rename within the data dir's filesystem.
    let aside = aside_dir(data_dir);
    std::fs::create_dir_all(&aside)?;
    let name = live_db
        .file_name()
        .context("the database path has no file name")?
        .to_owned();
    let mut moved = Vec::new();
    for suffix in SQLITE_SUFFIXES {
        let from = with_suffix(&live_db, suffix);
        if from.exists() {
            let to = with_suffix(&aside.join(&name), suffix);
            std::fs::rename(&from, &to)?;
            moved.push((from, to));
        }
    }
    let swapped = (|| -> std::io::Result<()> {
        for suffix in SQLITE_SUFFIXES {
            let from = with_suffix(staged, suffix);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&live_db, suffix))?;
            }
        }
        if let Some(dir) = live_db.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = swapped {
        for (from, to) in moved {
            let _ = std::fs::rename(&to, &from);
        }
        bail!("could not put the restored database in place (the old one is back): {e}");
    }
    Ok(Restored {
        manifest: manifest.clone(),
        objects_written,
        aside,
        epoch,
    })
}

async fn run(cmd: &mut tokio::process::Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.kill_on_drop(true).output().await.with_context(|| {
        format!("cannot run {what} (PostgreSQL's client tools must be on PATH)")
    })?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// PostgreSQL: the current database is dumped aside first; then, in one transaction, the
/// schema is emptied and the backup's SQL applied, so a failure changes nothing.
async fn restore_postgres(
    manifest: &Manifest,
    staged: &Path,
    database_url: &str,
    data_dir: &Path,
    source: &Source,
    live: &Storage,
) -> anyhow::Result<Restored> {
    let aside = aside_dir(data_dir);
    std::fs::create_dir_all(&aside)?;
    run(
        tokio::process::Command::new("pg_dump")
            .arg("--format=custom")
            .arg(format!(
                "--file={}",
                aside.join("database.pgdump").display()
            ))
            .arg(format!("--dbname={database_url}")),
        "pg_dump (of the database being replaced)",
    )
    .await?;
    let sql = with_suffix(staged, ".sql");
    let applied = async {
        run(
            tokio::process::Command::new("pg_restore")
                .arg("--no-owner")
                .arg("--no-privileges")
                .arg(format!("--file={}", sql.display()))
                .arg(staged),
            "pg_restore",
        )
        .await?;
        let objects_written = put_objects(manifest, source, live).await?;
        run(
            tokio::process::Command::new("psql")
                .arg("-X")
                .arg("-q")
                .arg("-v")
                .arg("ON_ERROR_STOP=1")
                .arg("--single-transaction")
                .arg("-c")
                .arg("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                .arg("-f")
                .arg(&sql)
                .arg(format!("--dbname={database_url}")),
            "psql (applying the backup)",
        )
        .await?;
        Ok::<_, anyhow::Error>(objects_written)
    }
    .await;
    let _ = tokio::fs::remove_file(&sql).await;
    let objects_written = applied?;
    let epoch = prepare(database_url).await?;
    Ok(Restored {
        manifest: manifest.clone(),
        objects_written,
        aside,
        epoch,
    })
}
