//! Access tokens: HS256 JWTs (algorithm pinned) bound to a session id.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Clock skew tolerated for `nbf`, `exp` and `iat`.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Session id: revoking the session revokes the token.
    pub sid: String,
    /// Unique per token, so two tokens issued in the same second still differ.
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// A download ticket: lets a browser fetch one file with a plain GET (no `Authorization`
/// header), so the download streams to disk instead of through page memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketClaims {
    pub sub: String,
    pub sid: String,
    /// The file this ticket opens.
    pub fid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// How long a download ticket stays valid: long enough to start (and resume soon after) a
/// download, short enough that a leaked URL is worth little.
pub const TICKET_TTL_SECS: i64 = 120;

/// The proof of a correct password while the second factor is still to come: names the user, is
/// good for [`CHALLENGE_TTL_SECS`], and is signed with a key of its own so it is never an access
/// token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeClaims {
    pub sub: String,
    /// Unique per challenge.
    pub cid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Time to type the code from an authenticator app after the password was accepted.
pub const CHALLENGE_TTL_SECS: i64 = 300;

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
    /// Tickets are signed with a key derived from the secret, so an access token can never be
    /// presented as a ticket nor the reverse.
    ticket_encoding: EncodingKey,
    ticket_decoding: DecodingKey,
    challenge_encoding: EncodingKey,
    challenge_decoding: DecodingKey,
}

fn derived_key(purpose: &[u8], secret: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(purpose);
    h.update(secret);
    h.finalize().to_vec()
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub"]);
        let ticket = derived_key(b"switchboard download ticket\0", secret);
        let challenge = derived_key(b"switchboard mfa challenge\0", secret);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
            ticket_encoding: EncodingKey::from_secret(&ticket),
            ticket_decoding: DecodingKey::from_secret(&ticket),
            challenge_encoding: EncodingKey::from_secret(&challenge),
            challenge_decoding: DecodingKey::from_secret(&challenge),
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(&self, user_id: &str, session_id: &str) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("token signing failed: {e}")))
    }

    /// A ticket for `file_id` on behalf of a session; returns it with its expiry (unix secs).
    pub fn issue_ticket(
        &self,
        user_id: &str,
        session_id: &str,
        file_id: &str,
    ) -> Result<(String, i64)> {
        let now = Utc::now().timestamp();
        let claims = TicketClaims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            fid: file_id.to_owned(),
            iat: now,
            nbf: now,
            exp: now + TICKET_TTL_SECS,
        };
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.ticket_encoding,
        )
        .map_err(|e| Error::Internal(format!("ticket signing failed: {e}")))?;
        Ok((token, claims.exp))
    }

    /// A second-factor challenge for `user_id`.
    pub fn issue_challenge(&self, user_id: &str) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = ChallengeClaims {
            sub: user_id.to_owned(),
            cid: uuid::Uuid::new_v4().simple().to_string(),
            iat: now,
            nbf: now,
            exp: now + CHALLENGE_TTL_SECS,
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.challenge_encoding,
        )
        .map_err(|e| Error::Internal(format!("challenge signing failed: {e}")))
    }

    /// Same checks as [`Self::verify`], with the challenge key.
    pub fn verify_challenge(&self, token: &str) -> Result<ChallengeClaims> {
        let denied = Error::Unauthorized("invalid or expired sign-in challenge; log in again");
        let data = decode::<ChallengeClaims>(token, &self.challenge_decoding, &self.validation)
            .map_err(|_| {
                Error::Unauthorized("invalid or expired sign-in challenge; log in again")
            })?;
        if data.claims.iat > Utc::now().timestamp() + LEEWAY_SECS as i64 {
            return Err(denied);
        }
        Ok(data.claims)
    }

    /// Same checks as [`Self::verify`], with the ticket key.
    pub fn verify_ticket(&self, token: &str) -> Result<TicketClaims> {
        let data = decode::<TicketClaims>(token, &self.ticket_decoding, &self.validation)
            .map_err(|_| Error::Unauthorized("invalid or expired download ticket"))?;
        if data.claims.iat > Utc::now().timestamp() + LEEWAY_SECS as i64 {
            return Err(Error::Unauthorized("invalid or expired download ticket"));
        }
        Ok(data.claims)
    }

    /// Signature, algorithm, `exp`, `nbf` and `iat` (not in the future) checked.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::Unauthorized("invalid or expired access token"))?;
        if data.claims.iat > Utc::now().timestamp() + LEEWAY_SECS as i64 {
            return Err(Error::Unauthorized("invalid or expired access token"));
        }
        Ok(data.claims)
    }
}
