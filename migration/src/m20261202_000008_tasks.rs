//! Background tasks (URL imports), shared by every instance on the database: any instance lists,
//! cancels and retries them; the one running a task (`instance`) writes its progress and a
//! heartbeat, so a task whose instance died is seen as `interrupted`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tasks")
                    .col(string("id").primary_key())
                    .col(string("kind"))
                    .col(string("status"))
                    // As shown to clients (a password replaced by `***`).
                    .col(text("url"))
                    // As requested, for a retry; never shown.
                    .col(text("source_url"))
                    .col(string_null("name"))
                    .col(string("file_id"))
                    .col(big_integer("bytes_received").default(0))
                    .col(big_integer_null("bytes_total"))
                    .col(text_null("error"))
                    // The file's limits, for a retry.
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(big_integer_null("max_downloads"))
                    .col(string_null("retry_of"))
                    .col(string("instance"))
                    // The whole body is in and the file is being stored: too late to cancel.
                    .col(boolean("storing").default(false))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone("heartbeat_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("tasks_created_at_idx", "created_at"),
            ("tasks_status_idx", "status"),
            ("tasks_finished_at_idx", "finished_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("tasks")
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("tasks").to_owned())
            .await
    }
}
