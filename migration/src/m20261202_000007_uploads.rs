use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("uploads")
                    .col(string("id").primary_key())
                    // Assigned at creation, so finishing twice (after a crash) makes one file.
                    .col(string("file_id"))
                    .col(string("name"))
                    .col(string_null("content_type"))
                    // `Upload-Metadata` as the client sent it: HEAD must echo it.
                    .col(text("metadata"))
                    .col(timestamp_with_time_zone_null("file_expires_at"))
                    .col(big_integer_null("max_downloads"))
                    .col(big_integer("upload_length"))
                    .col(big_integer("upload_offset").default(0))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    // When an unfinished upload is swept (or a finished one forgotten).
                    .col(timestamp_with_time_zone("expires_at"))
                    // Set in the transaction that creates the file; the row stays until it
                    // expires so a client asking after its upload still hears "complete".
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("uploads_created_by_fk")
                            .from("uploads", "created_by")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("uploads_expires_at_idx", "expires_at"),
            ("uploads_created_by_idx", "created_by"),
            ("uploads_created_at_idx", "created_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("uploads")
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("upload_parts")
                    .col(string("upload_id"))
                    // Where the part starts in the upload; one committed part per offset.
                    .col(big_integer("part_offset"))
                    .col(big_integer("size"))
                    .col(string("sha256"))
                    .col(string("storage_key"))
                    .primary_key(Index::create().col("upload_id").col("part_offset"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("upload_parts_upload_fk")
                            .from("upload_parts", "upload_id")
                            .to("uploads", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("upload_parts").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("uploads").to_owned())
            .await
    }
}
