//! A per-instance cache of resolved access-token sessions, so a request costs no extra query.
//!
//! Only enabled where this instance sees every write (SQLite: one process owns the file).
//! Every revocation or user change invalidates it after commit; an epoch counter keeps a lookup
//! that raced with an invalidation from caching what it read before the change.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::sessions::Principal;

/// Bound on cached sessions; past it the cache is simply cleared.
const MAX_ENTRIES: usize = 100_000;
/// An entry is re-checked against the database after this long, which bounds how late a change
/// made by another process (the `user set-password` command) takes effect.
const TTL: Duration = Duration::from_secs(2);

struct Entry {
    principal: Principal,
    session_expires_at: DateTime<Utc>,
    cached_at: Instant,
}

#[derive(Default)]
pub struct PrincipalCache {
    enabled: bool,
    epoch: AtomicU64,
    entries: RwLock<HashMap<String, Entry>>,
}

impl PrincipalCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    /// The epoch to pass to [`Self::insert`] for a lookup starting now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, session_id: &str, user_id: &str) -> Option<Principal> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(session_id)?;
        let fresh = e.cached_at.elapsed() < TTL && e.session_expires_at > Utc::now();
        (fresh && e.principal.user_id == user_id).then(|| e.principal.clone())
    }

    /// Caches a lookup unless an invalidation happened since `epoch` was read.
    pub fn insert(&self, epoch: u64, principal: Principal, expires_at: DateTime<Utc>) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            principal.session_id.clone(),
            Entry {
                principal,
                session_expires_at: expires_at,
                cached_at: Instant::now(),
            },
        );
    }

    pub fn invalidate_session(&self, session_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.remove(session_id);
    }

    /// After any change to a user (role, name, disabled, password, deletion).
    pub fn invalidate_user(&self, user_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| e.principal.user_id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Role;

    fn principal(sid: &str, uid: &str) -> Principal {
        Principal {
            user_id: uid.into(),
            username: "u".into(),
            role: Role::Admin,
            session_id: sid.into(),
            key: None,
            mfa_pending: false,
        }
    }

    #[test]
    fn stale_lookup_is_not_cached_after_invalidation() {
        let cache = PrincipalCache::new(true);
        let later = Utc::now() + chrono::Duration::hours(1);
        let epoch = cache.epoch();
        cache.invalidate_user("u1");
        cache.insert(epoch, principal("s1", "u1"), later);
        assert!(cache.get("s1", "u1").is_none());

        cache.insert(cache.epoch(), principal("s1", "u1"), later);
        assert!(cache.get("s1", "u1").is_some());
        assert!(cache.get("s1", "other").is_none());
        cache.invalidate_session("s1");
        assert!(cache.get("s1", "u1").is_none());
    }

    #[test]
    fn disabled_cache_never_answers() {
        let cache = PrincipalCache::new(false);
        cache.insert(
            cache.epoch(),
            principal("s1", "u1"),
            Utc::now() + chrono::Duration::hours(1),
        );
        assert!(cache.get("s1", "u1").is_none());
    }
}
