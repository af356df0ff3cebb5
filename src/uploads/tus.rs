//! The tus 1.0.0 protocol's vocabulary: versions, extensions, `Upload-Metadata` and
//! `Upload-Checksum` parsing, dates. No I/O.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::Digest as _;

use crate::error::{Error, Result};

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The media type of PATCH bodies (and of a POST that carries data).
pub const CHUNK_TYPE: &str = "application/offset+octet-stream";
/// Largest `Upload-Metadata` header kept (it is echoed on HEAD).
const MAX_METADATA: usize = 4 * 1024;

/// `Upload-Metadata`: comma-separated `key base64value` pairs, the value optional.
pub fn parse_metadata(raw: &str) -> Result<BTreeMap<String, Option<String>>> {
    if raw.len() > MAX_METADATA {
        return Err(Error::BadRequest(format!(
            "Upload-Metadata is longer than {MAX_METADATA} bytes"
        )));
    }
    let mut out = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.split(' ').filter(|s| !s.is_empty());
        let key = it.next().unwrap_or_default();
        let value = it.next();
        if it.next().is_some() || key.is_empty() {
            return Err(Error::BadRequest(format!(
                "Upload-Metadata pair {pair:?} is not `key base64value`"
            )));
        }
        let value = value
            .map(|v| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| {
                        Error::BadRequest(format!("Upload-Metadata value of {key} is not base64"))
                    })?;
                String::from_utf8(bytes).map_err(|_| {
                    Error::BadRequest(format!("Upload-Metadata value of {key} is not UTF-8"))
                })
            })
            .transpose()?;
        if out.insert(key.to_owned(), value).is_some() {
            return Err(Error::BadRequest(format!(
                "Upload-Metadata names {key} twice"
            )));
        }
    }
    Ok(out)
}

/// A supported `Upload-Checksum` algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

/// `Upload-Checksum: <algorithm> <base64 digest>` of one request's body.
#[derive(Debug, Clone)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub digest: Vec<u8>,
}

impl Checksum {
    pub fn parse(raw: &str) -> Result<Self> {
        let (name, value) = raw
            .trim()
            .split_once(' ')
            .ok_or_else(|| Error::BadRequest("Upload-Checksum is `<algorithm> <base64>`".into()))?;
        let algorithm = match name.to_ascii_lowercase().as_str() {
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            _ => {
                return Err(Error::BadRequest(format!(
                    "unsupported checksum algorithm {name:?} (supported: {CHECKSUM_ALGORITHMS})"
                )));
            }
        };
        let digest = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| Error::BadRequest("the Upload-Checksum digest is not base64".into()))?;
        Ok(Self { algorithm, digest })
    }

    /// A running hash for algorithms the staging writer does not compute itself.
    pub fn extra_hasher(&self) -> Option<sha1::Sha1> {
        (self.algorithm == Algorithm::Sha1).then(sha1::Sha1::new)
    }

    /// Whether the body matched: `sha256_hex` from staging, or the finished extra hasher.
    pub fn matches(&self, sha256_hex: &str, sha1: Option<sha1::Sha1>) -> bool {
        match (self.algorithm, sha1) {
            (Algorithm::Sha256, _) => hex::decode(sha256_hex).is_ok_and(|d| d == self.digest),
            (Algorithm::Sha1, Some(h)) => h.finalize()[..] == self.digest[..],
            (Algorithm::Sha1, None) => false,
        }
    }
}

/// RFC 7231 `IMF-fixdate`, as `Upload-Expires` wants.
pub fn http_date(t: DateTime<Utc>) -> String {
    httpdate::fmt_http_date(t.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_decode_and_values_are_optional() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .expect("valid metadata");
        assert_eq!(
            m.get("filename").cloned().flatten().as_deref(),
            Some("world_domination_plan.pdf")
        );
        assert_eq!(m.get("is_confidential"), Some(&None));
        assert!(parse_metadata("filename !!!").is_err());
        assert!(parse_metadata("a YQ==,a Yg==").is_err());
        assert!(parse_metadata("a YQ== extra").is_err());
        assert!(parse_metadata("").expect("empty metadata").is_empty());
    }

    #[test]
    fn checksums_parse_and_compare() {
        let body = b"hello";
        let sha256 = hex::encode(sha2::Sha256::digest(body));
        let b64 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
        let c = Checksum::parse(&format!("sha256 {b64}")).expect("sha256");
        assert!(c.matches(&sha256, None));
        assert!(!c.matches(&hex::encode([0u8; 32]), None));
        let sha1 = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(body));
        let c = Checksum::parse(&format!("sha1 {sha1}")).expect("sha1");
        let mut h = c.extra_hasher().expect("sha1 hasher");
        h.update(body);
        assert!(c.matches(&sha256, Some(h)));
        assert!(Checksum::parse("md5 AAAA").is_err());
        assert!(Checksum::parse("sha256").is_err());
    }

    #[test]
    fn dates_are_imf_fixdate() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(http_date(t), "Wed, 02 Dec 2026 10:00:00 GMT");
    }
}
