use sea_orm::entity::prelude::*;

/// A user's TOTP second factor; active once `confirmed_at` is set.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub secret: String,
    pub confirmed_at: Option<DateTimeUtc>,
    pub last_step: i64,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
