use sea_orm::entity::prelude::*;

/// A stored file's metadata; the bytes live in the object store under `storage_key`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub name_lower: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    pub storage_key: String,
    pub uploaded_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub download_count: i64,
    pub expires_at: Option<DateTimeUtc>,
    pub max_downloads: Option<i64>,
    pub version: i64,
}

impl ActiveModelBehavior for ActiveModel {}
