//! Database connection (SQLite or PostgreSQL), migrations, and the write-transaction helper.

use std::{path::Path, sync::Arc, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::Result;

/// The shared database handle.
///
/// SQLite allows one writer at a time and answers a second one with `SQLITE_BUSY` (which a busy
/// timeout cannot fix when a read transaction upgrades). Writers therefore queue on an in-process
/// lock there; PostgreSQL runs them concurrently and relies on row locks.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A write transaction plus, on SQLite, the writer lock it holds until commit or drop.
pub struct WriteTx {
    pub txn: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        self.txn.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl Db {
    /// Connect (creating the SQLite file and its directory when needed). `pool_size` defaults
    /// by backend.
    pub async fn connect(url: &str, pool_size: Option<u32>) -> Result<Self> {
        let sqlite = sqlite_path(url).is_some() || url.starts_with("sqlite:");
        let pool_size = pool_size.unwrap_or(if sqlite { 4 } else { 16 });
        if let Some(dir) = sqlite_path(url)
            .as_deref()
            .and_then(|p| Path::new(p).parent())
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(pool_size.max(1))
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit survives power loss, not just a process crash.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            });
        let conn = Database::connect(opts).await?;
        let write_lock = match conn.get_database_backend() {
            DbBackend::Sqlite => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        Ok(Self { conn, write_lock })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Apply every pending migration.
    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.conn, None).await?;
        Ok(())
    }

    /// Begin a transaction that will write.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let txn = self.conn.begin().await?;
        Ok(WriteTx { txn, _guard: guard })
    }

    /// Cheap round trip for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The file of a SQLite URL (`None` for PostgreSQL or an in-memory database).
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}
