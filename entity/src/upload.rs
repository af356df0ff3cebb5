use sea_orm::entity::prelude::*;

/// A resumable (tus) upload: how far it got, and what the file it becomes will be.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub file_id: String,
    pub name: String,
    pub content_type: Option<String>,
    pub metadata: String,
    pub file_expires_at: Option<DateTimeUtc>,
    pub max_downloads: Option<i64>,
    pub upload_length: i64,
    pub upload_offset: i64,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
