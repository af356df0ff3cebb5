//! The identity of the event log: one row whose `epoch` the server creates at first start and
//! a restore replaces. `welcome` carries it; a `resume` from another epoch gets `resync`, so a
//! client never mixes seqs of two different logs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("log_identity")
                    // Always 1: a single row, so concurrent first starts agree on one epoch.
                    .col(integer("id").primary_key())
                    .col(string("epoch"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("log_identity").to_owned())
            .await
    }
}
