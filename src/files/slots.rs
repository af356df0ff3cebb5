//! Download slots of limited files and links.
//!
//! The database counter is the authority: a download is counted, under its limit, only when its
//! last byte goes out (`service::count_download`). But letting 20 clients stream a file that
//! only 3 may finish would waste 17 transfers, so each download that could complete takes a slot
//! here first; when every remaining download is already in flight, the next client is told to
//! retry (429) instead. Slots are per process: with several instances the database check still
//! keeps the limit exact, the slots only save bandwidth.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

#[derive(Clone, Default)]
pub struct Slots(Arc<Mutex<HashMap<String, u64>>>);

/// Holds slots; releases them when dropped.
pub struct SlotGuard {
    slots: Slots,
    keys: Vec<String>,
}

impl Slots {
    /// Takes one slot under each `(key, remaining)` if every key has one free.
    pub fn take(&self, wanted: &[(String, u64)]) -> Option<SlotGuard> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if wanted
            .iter()
            .any(|(k, remaining)| map.get(k).copied().unwrap_or(0) >= *remaining)
        {
            return None;
        }
        for (k, _) in wanted {
            *map.entry(k.clone()).or_insert(0) += 1;
        }
        Some(SlotGuard {
            slots: self.clone(),
            keys: wanted.iter().map(|(k, _)| k.clone()).collect(),
        })
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut map = self.slots.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            if let Some(n) = map.get_mut(k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_and_released() {
        let slots = Slots::default();
        let want = vec![("link:a".to_owned(), 2)];
        let a = slots.take(&want).expect("first");
        let b = slots.take(&want).expect("second");
        assert!(slots.take(&want).is_none());
        drop(a);
        let c = slots.take(&want).expect("released");
        drop((b, c));
        assert!(slots.0.lock().expect("lock").is_empty());
    }
}
