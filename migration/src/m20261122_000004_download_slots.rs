use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("download_slots")
                    .col(string("id").primary_key())
                    .col(string("file_id"))
                    .col(string_null("link_token"))
                    // A lease: renewed while the transfer runs, so a crashed instance's slots
                    // stop counting once it lapses.
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    // Cascades: a slot of a deleted file or link can never be counted, and
                    // nothing else would ever remove it.
                    .foreign_key(
                        ForeignKey::create()
                            .name("download_slots_file_fk")
                            .from("download_slots", "file_id")
                            .to("files", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("download_slots_link_fk")
                            .from("download_slots", "link_token")
                            .to("share_links", "token")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("download_slots_file_idx", "file_id"),
            ("download_slots_link_idx", "link_token"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("download_slots")
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("download_slots").to_owned())
            .await
    }
}
