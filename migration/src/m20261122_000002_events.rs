use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("events")
                    // Assigned from `event_seq` inside the writing transaction: gap-free and in
                    // commit order.
                    .col(big_integer("seq").primary_key())
                    .col(string("type"))
                    .col(string("topic"))
                    .col(string_null("actor_id"))
                    .col(string_null("actor_username"))
                    .col(text("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("events_created_at_idx", "created_at"),
            ("events_type_idx", "type"),
            ("events_actor_idx", "actor_id"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("events")
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        // One row holding the last assigned seq. Its row lock serialises event writers from
        // allocation to commit, which is what keeps seq commit-ordered on PostgreSQL.
        manager
            .create_table(
                Table::create()
                    .table("event_seq")
                    .col(integer("id").primary_key())
                    .col(big_integer("last"))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("event_seq")
                    .columns(["id", "last"])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("event_seq").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("events").to_owned())
            .await
    }
}
