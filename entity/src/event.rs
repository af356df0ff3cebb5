use sea_orm::entity::prelude::*;

/// One durable event of the log. `data` is the JSON payload as sent to clients.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    #[sea_orm(column_name = "type")]
    pub kind: String,
    pub topic: String,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub data: String,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
