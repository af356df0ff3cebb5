//! Indexes for every sort and filter the lists offer, and an index for substring search over
//! users and file names: FTS5 with the trigram tokenizer on SQLite (kept in step with the tables
//! by triggers), `pg_trgm` GIN indexes on PostgreSQL. Each sort index ends with `id`, the tie-breaker of every
//! list, so a page (or a cursor) is one index range.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(index, table, columns)`.
const INDEXES: &[(&str, &str, &[&str])] = &[
    (
        "users_display_name_id_idx",
        "users",
        &["display_name", "id"],
    ),
    ("users_role_username_idx", "users", &["role", "username"]),
    (
        "users_disabled_username_idx",
        "users",
        &["disabled", "username"],
    ),
    ("users_created_at_id_idx", "users", &["created_at", "id"]),
    ("users_updated_at_id_idx", "users", &["updated_at", "id"]),
    (
        "users_last_login_at_id_idx",
        "users",
        &["last_login_at", "id"],
    ),
    ("files_name_lower_id_idx", "files", &["name_lower", "id"]),
    ("files_size_id_idx", "files", &["size", "id"]),
    (
        "files_content_type_id_idx",
        "files",
        &["content_type", "id"],
    ),
    ("files_created_at_id_idx", "files", &["created_at", "id"]),
    ("files_updated_at_id_idx", "files", &["updated_at", "id"]),
    (
        "files_download_count_id_idx",
        "files",
        &["download_count", "id"],
    ),
    ("files_expires_at_id_idx", "files", &["expires_at", "id"]),
    ("events_type_seq_idx", "events", &["type", "seq"]),
    ("events_topic_seq_idx", "events", &["topic", "seq"]),
    ("events_actor_id_seq_idx", "events", &["actor_id", "seq"]),
    (
        "events_actor_username_seq_idx",
        "events",
        &["actor_username", "seq"],
    ),
];

/// Superseded by the composite indexes above.
const DROPPED: &[(&str, &str)] = &[
    ("users_created_at_idx", "users"),
    ("files_name_lower_idx", "files"),
    ("files_created_at_idx", "files"),
    ("events_type_idx", "events"),
    ("events_actor_idx", "events"),
];

const SQLITE_SEARCH: &[&str] = &[
    // External content: the index holds trigrams only, the text stays in `users`.
    "CREATE VIRTUAL TABLE users_search USING fts5(username, email, display_name, \
     content='users', content_rowid='rowid', tokenize='trigram')",
    "INSERT INTO users_search(users_search) VALUES ('rebuild')",
    "CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN \
     INSERT INTO users_search(rowid, username, email, display_name) \
     VALUES (new.rowid, new.username, new.email, new.display_name); END",
    "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN \
     INSERT INTO users_search(users_search, rowid, username, email, display_name) \
     VALUES ('delete', old.rowid, old.username, old.email, old.display_name); END",
    "CREATE TRIGGER users_search_update AFTER UPDATE OF username, email, display_name ON users \
     BEGIN \
     INSERT INTO users_search(users_search, rowid, username, email, display_name) \
     VALUES ('delete', old.rowid, old.username, old.email, old.display_name); \
     INSERT INTO users_search(rowid, username, email, display_name) \
     VALUES (new.rowid, new.username, new.email, new.display_name); END",
    "CREATE VIRTUAL TABLE files_search USING fts5(name, content='files', content_rowid='rowid', \
     tokenize='trigram')",
    "INSERT INTO files_search(files_search) VALUES ('rebuild')",
    "CREATE TRIGGER files_search_insert AFTER INSERT ON files BEGIN \
     INSERT INTO files_search(rowid, name) VALUES (new.rowid, new.name); END",
    "CREATE TRIGGER files_search_delete AFTER DELETE ON files BEGIN \
     INSERT INTO files_search(files_search, rowid, name) VALUES ('delete', old.rowid, old.name); \
     END",
    "CREATE TRIGGER files_search_update AFTER UPDATE OF name ON files BEGIN \
     INSERT INTO files_search(files_search, rowid, name) VALUES ('delete', old.rowid, old.name); \
     INSERT INTO files_search(rowid, name) VALUES (new.rowid, new.name); END",
];

const POSTGRES_SEARCH: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops)",
    "CREATE INDEX users_email_trgm_idx ON users USING gin (email_lower gin_trgm_ops)",
    "CREATE INDEX users_display_name_trgm_idx ON users \
     USING gin (lower(display_name) gin_trgm_ops)",
    "CREATE INDEX files_name_trgm_idx ON files USING gin (name_lower gin_trgm_ops)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in INDEXES {
            let mut index = Index::create();
            index.name(*name).table(*table);
            for col in *cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        for (name, table) in DROPPED {
            manager
                .drop_index(Index::drop().name(*name).table(*table).to_owned())
                .await?;
        }
        let db = manager.get_connection();
        let search = match manager.get_database_backend() {
            DbBackend::Sqlite => SQLITE_SEARCH,
            _ => POSTGRES_SEARCH,
        };
        for sql in search {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                for sql in [
                    "DROP TRIGGER users_search_insert",
                    "DROP TRIGGER users_search_delete",
                    "DROP TRIGGER users_search_update",
                    "DROP TABLE users_search",
                    "DROP TRIGGER files_search_insert",
                    "DROP TRIGGER files_search_delete",
                    "DROP TRIGGER files_search_update",
                    "DROP TABLE files_search",
                ] {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                for name in [
                    "users_username_trgm_idx",
                    "users_email_trgm_idx",
                    "users_display_name_trgm_idx",
                    "files_name_trgm_idx",
                ] {
                    db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
                }
            }
        }
        for (name, table, cols) in DROPPED.iter().map(|(n, t)| {
            let col = match *n {
                "users_created_at_idx" | "files_created_at_idx" => "created_at",
                "files_name_lower_idx" => "name_lower",
                "events_type_idx" => "type",
                _ => "actor_id",
            };
            (*n, *t, col)
        }) {
            manager
                .create_index(Index::create().name(name).table(table).col(cols).to_owned())
                .await?;
        }
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(*name).table(*table).to_owned())
                .await?;
        }
        Ok(())
    }
}
