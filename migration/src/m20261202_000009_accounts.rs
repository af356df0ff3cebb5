//! Accounts for teams: API keys, TOTP second factors with recovery codes, invitations and
//! password resets. Every secret is stored only as a SHA-256 hash, except the TOTP seed, which
//! the server needs in the clear to compute codes (docs/SECURITY.md "Second factor").

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn user_fk(table: &'static str, col: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_{col}_fk"))
        .from(table, col)
        .to("users", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(string("id").primary_key())
                    .col(string("user_id"))
                    .col(string("name"))
                    // The scope: never more than the owner's role at the time of use.
                    .col(string("role"))
                    .col(string("secret_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .foreign_key(&mut user_fk("api_keys", "user_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("totp_factors")
                    .col(string("user_id").primary_key())
                    // Base32, as the authenticator app receives it.
                    .col(string("secret"))
                    // Null until the first code confirms the enrolment.
                    .col(timestamp_with_time_zone_null("confirmed_at"))
                    // The last time step accepted: a code is good once (RFC 6238 §5.2).
                    .col(big_integer("last_step").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut user_fk("totp_factors", "user_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("recovery_codes")
                    .col(string("id").primary_key())
                    .col(string("user_id"))
                    .col(string("code_hash"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(&mut user_fk("recovery_codes", "user_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(string("id").primary_key())
                    .col(string("email"))
                    .col(string("email_lower"))
                    .col(string("role"))
                    .col(string("token_hash"))
                    .col(string_null("invited_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("accepted_at"))
                    .col(string_null("user_id"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("password_resets")
                    .col(string("id").primary_key())
                    .col(string("user_id"))
                    .col(string("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(&mut user_fk("password_resets", "user_id"))
                    .to_owned(),
            )
            .await?;
        for (name, table, cols) in [
            ("api_keys_user_idx", "api_keys", &["user_id", "id"][..]),
            (
                "recovery_codes_user_idx",
                "recovery_codes",
                &["user_id"][..],
            ),
            ("invitations_email_idx", "invitations", &["email_lower"][..]),
            (
                "invitations_created_idx",
                "invitations",
                &["created_at", "id"][..],
            ),
            (
                "password_resets_user_idx",
                "password_resets",
                &["user_id"][..],
            ),
            // The files one user uploaded (the user detail page), newest first.
            (
                "files_uploaded_by_idx",
                "files",
                &["uploaded_by", "created_at", "id"][..],
            ),
            // The sessions list of one user, newest first.
            (
                "sessions_user_created_idx",
                "sessions",
                &["user_id", "created_at"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(table);
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("sessions_user_created_idx")
                    .table("sessions")
                    .to_owned(),
            )
            .await?;
        for table in [
            "password_resets",
            "invitations",
            "recovery_codes",
            "totp_factors",
            "api_keys",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
