use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("files")
                    .col(string("id").primary_key())
                    .col(string("name"))
                    // Lower-cased copy of `name` for case-insensitive search and sort.
                    .col(string("name_lower"))
                    .col(big_integer("size"))
                    .col(string("content_type"))
                    .col(string("sha256"))
                    // Where the bytes live in the object store; never derived from client input.
                    .col(string("storage_key"))
                    .col(string_null("uploaded_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(big_integer("download_count").default(0))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(big_integer_null("max_downloads"))
                    .col(big_integer("version").default(1))
                    .foreign_key(
                        ForeignKey::create()
                            .name("files_uploaded_by_fk")
                            .from("files", "uploaded_by")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("files_name_lower_idx", "name_lower"),
            ("files_created_at_idx", "created_at"),
            ("files_expires_at_idx", "expires_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("files")
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("share_links")
                    .col(string("token").primary_key())
                    .col(string("file_id"))
                    .col(string_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(big_integer_null("max_downloads"))
                    .col(big_integer("download_count").default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("share_links_file_fk")
                            .from("share_links", "file_id")
                            .to("files", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("share_links_created_by_fk")
                            .from("share_links", "created_by")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("share_links_file_idx", "file_id"),
            ("share_links_expires_at_idx", "expires_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("share_links")
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("share_links").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("files").to_owned())
            .await
    }
}
