use sea_orm::entity::prelude::*;

/// A public download link to one file.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "share_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token: String,
    pub file_id: String,
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub max_downloads: Option<i64>,
    pub download_count: i64,
}

impl ActiveModelBehavior for ActiveModel {}
