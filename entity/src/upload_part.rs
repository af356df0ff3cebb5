use sea_orm::entity::prelude::*;

/// One committed PATCH of an upload: its bytes are the object `storage_key`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upload_parts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub upload_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub part_offset: i64,
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
}

impl ActiveModelBehavior for ActiveModel {}
