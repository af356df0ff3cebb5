//! Indexes for `GET /api/events` with both `type` and `actor`: with only `(actor_*, seq)`, a page
//! of one type by a busy actor walks all of that actor's events; `(type, actor_*, seq)` makes it
//! one index range whatever the log holds (docs/API.md §6.6).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(index, columns)` on `events`.
const INDEXES: &[(&str, &[&str])] = &[
    ("events_type_actor_id_seq_idx", &["type", "actor_id", "seq"]),
    (
        "events_type_actor_username_seq_idx",
        &["type", "actor_username", "seq"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, cols) in INDEXES {
            let mut index = Index::create();
            index.name(*name).table("events");
            for col in *cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(*name).table("events").to_owned())
                .await?;
        }
        Ok(())
    }
}
