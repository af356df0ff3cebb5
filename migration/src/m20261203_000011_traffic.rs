//! Hourly traffic counters for `GET /api/stats` (docs/API.md §7.1): downloads and uploads per
//! hour, kept in the same transaction as the events they count, so the dashboard never scans the
//! log. Backfilled from the events still in the log; plus an index for the busiest files.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("traffic_hourly")
                    // Hours since the Unix epoch (UTC).
                    .col(big_integer("hour"))
                    // `download` or `upload`.
                    .col(string("direction"))
                    .col(big_integer("count").default(0))
                    .col(big_integer("bytes").default(0))
                    .primary_key(Index::create().col("hour").col("direction"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("files_download_count_idx")
                    .table("files")
                    .col("download_count")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        let (hour, bytes, size) = match manager.get_database_backend() {
            DbBackend::Postgres => (
                "floor(extract(epoch from created_at) / 3600)::bigint",
                "(data::json->>'bytes')::bigint",
                "(data::json->>'size')::bigint",
            ),
            _ => (
                "CAST(strftime('%s', created_at) AS INTEGER) / 3600",
                "CAST(json_extract(data, '$.bytes') AS INTEGER)",
                "CAST(json_extract(data, '$.size') AS INTEGER)",
            ),
        };
        let db = manager.get_connection();
        for (kind, direction, amount) in [
            ("download.completed", "download", bytes),
            ("file.created", "upload", size),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO traffic_hourly (hour, direction, count, bytes) \
                 SELECT {hour}, '{direction}', COUNT(*), COALESCE(SUM({amount}), 0) \
                 FROM events WHERE type = '{kind}' GROUP BY 1"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("files_download_count_idx")
                    .table("files")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("traffic_hourly").to_owned())
            .await
    }
}
