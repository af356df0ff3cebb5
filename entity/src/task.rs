use sea_orm::entity::prelude::*;

/// A background task (for now: a URL import), on any instance. `status` is one of `queued`,
/// `running`, `completed`, `failed`, `cancelled`, `interrupted`; `instance` runs it and renews
/// `heartbeat_at` while it is queued or running.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    #[sea_orm(column_type = "Text")]
    pub source_url: String,
    pub name: Option<String>,
    pub file_id: String,
    pub bytes_received: i64,
    pub bytes_total: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub max_downloads: Option<i64>,
    pub retry_of: Option<String>,
    pub instance: String,
    pub storing: bool,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub heartbeat_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
