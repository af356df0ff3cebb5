//! One consistent point in time of the database, taken while the server keeps writing
//! (docs/ARCHITECTURE.md, "Backups"): on SQLite `VACUUM INTO` (a read transaction of its own, so
//! in WAL mode writers are never blocked), on PostgreSQL `pg_dump` inside an exported snapshot.
//! What the manifest needs (the files, the last seq, the epoch, the migrations) is read from that
//! same point in time: from the copy on SQLite, inside the snapshot's transaction on PostgreSQL.

use std::path::{Path, PathBuf};

use sea_orm::{
    AccessMode, ConnectionTrait, Database, DbBackend, IsolationLevel, Statement, TransactionTrait,
};

use super::manifest::ObjectEntry;
use crate::{
    db::Db,
    error::{Error, Result},
};

/// What a snapshot holds besides the database file itself.
pub struct Snapshot {
    /// The database copy, on local disk (removed by the caller).
    pub path: PathBuf,
    pub backend: &'static str,
    pub file_name: &'static str,
    pub last_seq: i64,
    pub epoch: String,
    pub migrations: Vec<String>,
    pub objects: Vec<ObjectEntry>,
}

/// Takes the snapshot into `dir/<id>.<ext>`.
pub async fn take(db: &Db, database_url: &str, dir: &Path, id: &str) -> Result<Snapshot> {
    match db.backend() {
        DbBackend::Postgres => take_postgres(db, database_url, dir, id).await,
        _ => take_sqlite(db, dir, id).await,
    }
}

async fn take_sqlite(db: &Db, dir: &Path, id: &str) -> Result<Snapshot> {
    let path = dir.join(format!("backup-{id}.sqlite"));
    let _ = tokio::fs::remove_file(&path).await;
    let quoted = path.display().to_string().replace('\'', "''");
    db.conn()
        .execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
        .await?;
    // The copy is the point in time: read the manifest's facts from it, not from the live file.
    let url = format!("sqlite://{}?mode=ro", path.display());
    let copy = Database::connect(url.as_str()).await?;
    let facts = read_facts(&copy).await;
    let _ = copy.close().await;
    let (last_seq, epoch, migrations, objects) = match facts {
        Ok(f) => f,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    Ok(Snapshot {
        path,
        backend: "sqlite",
        file_name: "database.sqlite",
        last_seq,
        epoch,
        migrations,
        objects,
    })
}

async fn take_postgres(db: &Db, database_url: &str, dir: &Path, id: &str) -> Result<Snapshot> {
    let path = dir.join(format!("backup-{id}.pgdump"));
    let txn = db
        .conn()
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_export_snapshot() AS snapshot",
        ))
        .await?
        .ok_or_else(|| Error::Internal("pg_export_snapshot returned nothing".into()))?;
    let snapshot: String = row.try_get("", "snapshot")?;
    let facts = read_facts(&txn).await?;
    // pg_dump sees exactly this transaction's snapshot while the transaction stays open.
    let status = tokio::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--file={}", path.display()))
        .arg(format!("--dbname={database_url}"))
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "cannot run pg_dump (PostgreSQL's client tools must be on PATH): {e}"
            ))
        })?;
    txn.commit().await?;
    if !status.success() {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(Error::Internal(format!("pg_dump failed: {status}")));
    }
    let (last_seq, epoch, migrations, objects) = facts;
    Ok(Snapshot {
        path,
        backend: "postgres",
        file_name: "database.pgdump",
        last_seq,
        epoch,
        migrations,
        objects,
    })
}

type Facts = (i64, String, Vec<String>, Vec<ObjectEntry>);

async fn read_facts(db: &impl ConnectionTrait) -> Result<Facts> {
    let backend = db.get_database_backend();
    let q = |sql: &str| Statement::from_string(backend, sql.to_owned());
    let last_seq = match db
        .query_one_raw(q("SELECT last FROM event_seq WHERE id = 1"))
        .await?
    {
        Some(row) => row.try_get::<i64>("", "last")?,
        None => 0,
    };
    let epoch = match db
        .query_one_raw(q("SELECT epoch FROM log_identity WHERE id = 1"))
        .await?
    {
        Some(row) => row.try_get::<String>("", "epoch")?,
        None => String::new(),
    };
    let migrations = db
        .query_all_raw(q("SELECT version FROM seaql_migrations ORDER BY version"))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<Vec<_>, _>>()?;
    let objects = db
        .query_all_raw(q(
            "SELECT id, storage_key, sha256, size FROM files ORDER BY id",
        ))
        .await?
        .into_iter()
        .map(|row| {
            Ok(ObjectEntry {
                file_id: row.try_get("", "id")?,
                storage_key: row.try_get("", "storage_key")?,
                sha256: row.try_get("", "sha256")?,
                size: u64::try_from(row.try_get::<i64>("", "size")?).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((last_seq, epoch, migrations, objects))
}
