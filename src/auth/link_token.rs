//! Single-use link tokens (invitations, password resets): `<id>.<secret>`, where only the
//! secret's SHA-256 is stored and the id finds the row.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh token: `(row id, token, hash of its secret)`.
pub fn new_token() -> (String, String, String) {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = URL_SAFE_NO_PAD.encode(raw);
    let token = format!("{id}.{secret}");
    (id, token, hash(&secret))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `(row id, hash of the secret)` of a presented token, if it has the shape.
pub fn split(token: &str) -> Option<(&str, String)> {
    let (id, secret) = token.trim().split_once('.')?;
    (id.len() == 32 && secret.len() >= 32).then(|| (id, hash(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_splits_back_to_its_row_and_hash() {
        let (id, token, h) = new_token();
        assert_eq!(split(&token), Some((id.as_str(), h)));
        assert!(split("nodot").is_none());
        assert!(split(&format!("{id}.short")).is_none());
    }
}
