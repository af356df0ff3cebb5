//! The TOTP second factor (RFC 6238) and its recovery codes: the only code writing
//! `totp_factors` and `recovery_codes`. A code is accepted once: the last accepted time step is
//! kept and only a later one passes, by a compare-and-swap every instance shares.

use chrono::{DateTime, Utc};
use entity::{recovery_code, totp_factor};
use rand::{Rng, RngCore};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    sea_query::Expr,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, Totp};

use super::sessions::Principal;
use crate::{
    error::{Error, Result},
    realtime::event::{Actor, EventType},
    users::service as users,
    write::Writer,
};

const ISSUER: &str = "Switchboard";
/// Codes of the step before and after the current one pass too: clocks drift.
const SKEW_STEPS: u16 = 1;
const STEP_SECS: u64 = 30;
pub const RECOVERY_CODES: usize = 10;
/// Recovery codes are `xxxxx-xxxxx` from this alphabet (no 0/o, 1/l): 50 bits each.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// What a user sees of their second factor.
pub struct Status {
    pub enabled: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: u64,
}

fn totp(secret_b32: &str, account: &str) -> Result<Totp> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|_| Error::Internal("stored TOTP secret is not base32".into()))?;
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECS)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| Error::Internal(format!("TOTP setup failed: {e}")))
}

fn hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// Lower-case, without spaces or dashes: how recovery codes are compared.
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn new_recovery_code() -> String {
    let mut rng = rand::rng();
    let mut pick = || RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char;
    let a: String = (0..5).map(|_| pick()).collect();
    let b: String = (0..5).map(|_| pick()).collect();
    format!("{a}-{b}")
}

/// Whether the user has a confirmed second factor.
pub async fn is_enabled(db: &impl ConnectionTrait, user_id: &str) -> Result<bool> {
    Ok(totp_factor::Entity::find_by_id(user_id)
        .filter(totp_factor::Column::ConfirmedAt.is_not_null())
        .count(db)
        .await?
        > 0)
}

pub async fn status(db: &impl ConnectionTrait, user_id: &str) -> Result<Status> {
    let factor = totp_factor::Entity::find_by_id(user_id)
        .filter(totp_factor::Column::ConfirmedAt.is_not_null())
        .one(db)
        .await?;
    let left = if factor.is_some() {
        recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(db)
            .await?
    } else {
        0
    };
    Ok(Status {
        enabled: factor.is_some(),
        confirmed_at: factor.and_then(|f| f.confirmed_at),
        recovery_codes_left: left,
    })
}

/// Starts (or restarts) enrolment: a new secret, not yet active. Returns the base32 secret and
/// the `otpauth://` URI for the authenticator app.
pub async fn start(writer: &Writer, who: &Principal) -> Result<(String, String)> {
    who.require_session()?;
    let mut raw = [0u8; 20];
    rand::rng().fill_bytes(&mut raw);
    let secret = Secret::new_stack(raw).to_base32();
    let uri = totp(&secret, &who.username)?
        .to_url()
        .map_err(|e| Error::Internal(format!("otpauth URI failed: {e}")))?;
    let w = writer.begin().await?;
    if let Some(existing) = totp_factor::Entity::find_by_id(&who.user_id)
        .one(&*w)
        .await?
    {
        if existing.confirmed_at.is_some() {
            return Err(Error::conflict(
                "mfa_already_enabled",
                "a second factor is already on; turn it off first to enrol a new one",
            ));
        }
        totp_factor::Entity::delete_by_id(&who.user_id)
            .exec(&*w)
            .await?;
    }
    totp_factor::ActiveModel {
        user_id: Set(who.user_id.clone()),
        secret: Set(secret.clone()),
        confirmed_at: Set(None),
        last_step: Set(0),
        created_at: Set(Utc::now()),
    }
    .insert(&*w)
    .await?;
    w.commit().await?;
    Ok((secret, uri))
}

/// Confirms enrolment with a first code; the factor is on from now, and the ten recovery codes
/// (returned once, stored hashed) replace any earlier ones.
pub async fn confirm(writer: &Writer, who: &Principal, code: &str) -> Result<Vec<String>> {
    who.require_session()?;
    let mut w = writer.begin().await?;
    let factor = totp_factor::Entity::find_by_id(&who.user_id)
        .one(&*w)
        .await?
        .filter(|f| f.confirmed_at.is_none())
        .ok_or_else(|| {
            Error::conflict(
                "mfa_not_pending",
                "no enrolment to confirm: start one with POST /api/auth/mfa/totp",
            )
        })?;
    let step = totp(&factor.secret, &who.username)?
        .check(code.trim(), now_secs())
        .ok_or_else(|| Error::field("code", "is incorrect or expired"))?;
    let mut active: totp_factor::ActiveModel = factor.into();
    active.confirmed_at = Set(Some(Utc::now()));
    active.last_step = Set(i64::try_from(step).unwrap_or(i64::MAX));
    active.update(&*w).await?;
    let codes = replace_recovery_codes(&*w, &who.user_id).await?;
    w.event(
        EventType::MfaEnabled,
        Some(&Actor::from(who)),
        json!({"id": who.user_id, "username": who.username}),
    );
    w.forget_user(&who.user_id);
    w.commit().await?;
    Ok(codes)
}

async fn replace_recovery_codes(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<String>> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let rows = codes.iter().map(|c| recovery_code::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        user_id: Set(user_id.to_owned()),
        code_hash: Set(hash(&normalise_recovery(c))),
        used_at: Set(None),
    });
    recovery_code::Entity::insert_many(rows).exec(db).await?;
    Ok(codes)
}

/// Turns the caller's own second factor off, after the password was checked by the caller.
pub async fn disable_own(writer: &Writer, who: &Principal) -> Result<()> {
    who.require_session()?;
    remove(writer, &Actor::from(who), &who.user_id, "disabled").await
}

/// An admin turns a user's second factor off (lost phone and codes).
pub async fn reset(writer: &Writer, admin: &Principal, user_id: &str) -> Result<()> {
    admin.require_admin()?;
    remove(writer, &Actor::from(admin), user_id, "reset").await
}

async fn remove(writer: &Writer, actor: &Actor, user_id: &str, reason: &str) -> Result<()> {
    let mut w = writer.begin().await?;
    let user = users::get(&*w, user_id).await?;
    let gone = totp_factor::Entity::delete_many()
        .filter(totp_factor::Column::UserId.eq(user_id))
        .filter(totp_factor::Column::ConfirmedAt.is_not_null())
        .exec(&*w)
        .await?;
    if gone.rows_affected == 0 {
        return Err(Error::NotFound("second factor"));
    }
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(&*w)
        .await?;
    w.event(
        EventType::MfaDisabled,
        Some(actor),
        json!({"id": user.id, "username": user.username, "reason": reason}),
    );
    w.forget_user(user_id);
    w.commit().await?;
    Ok(())
}

/// Checks a sign-in code: a TOTP code newer than the last one accepted, or an unused recovery
/// code (spent by this call). Both are single-use across every instance.
pub async fn verify(writer: &Writer, user_id: &str, account: &str, code: &str) -> Result<bool> {
    let code = code.trim();
    let w = writer.begin().await?;
    let Some(factor) = totp_factor::Entity::find_by_id(user_id)
        .filter(totp_factor::Column::ConfirmedAt.is_not_null())
        .one(&*w)
        .await?
    else {
        return Ok(false);
    };
    let accepted = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        match totp(&factor.secret, account)?.check(code, now_secs()) {
            Some(step) => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                totp_factor::Entity::update_many()
                    .col_expr(totp_factor::Column::LastStep, Expr::value(step))
                    .filter(totp_factor::Column::UserId.eq(user_id))
                    .filter(totp_factor::Column::LastStep.lt(step))
                    .exec(&*w)
                    .await?
                    .rows_affected
                    == 1
            }
            None => false,
        }
    } else {
        recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(Some(Utc::now())))
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::CodeHash.eq(hash(&normalise_recovery(code))))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(&*w)
            .await?
            .rows_affected
            == 1
    };
    w.commit().await?;
    Ok(accepted)
}

fn now_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_compare_loosely() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(
            normalise_recovery(&c.to_uppercase()),
            normalise_recovery(&c)
        );
        assert_eq!(normalise_recovery(" abcde-fghij "), "abcdefghij");
    }

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 Appendix B: the 20-byte ASCII secret "12345678901234567890", T = 59 s,
        // 8 digits → 94287082; with 6 digits the last six, 287082.
        let secret = Secret::new(b"12345678901234567890".to_vec().into_boxed_slice()).to_base32();
        let t = totp(&secret, "ada").expect("totp");
        assert_eq!(t.generate(59).to_string(), "287082");
        assert!(t.check("287082", 59).is_some());
        assert!(t.check("287082", 59 + 95).is_none());
    }
}
