//! The one write path. Every change to the database goes through [`Writer::begin`]:
//!
//! ```text
//! let mut w = writer.begin().await?;      // the write transaction (SQLite: the writer lock)
//! …rows through &*w…
//! w.event(kind, actor, data);             // buffered
//! w.revoke(Revoke::User(id));             // after commit: cached sessions dropped, sockets closed
//! w.commit().await?;                      // appends the events, commits, then tells the hub
//! ```
//!
//! Events are appended last, just before the commit, because from the first append to the commit
//! every other event writer waits on the `event_seq` row (that wait is what makes seq gap-free
//! and commit-ordered; docs/ARCHITECTURE.md, "Life of an event"). Dropping a `Write` without
//! committing rolls everything back and has no effect outside the database.

use std::{ops::Deref, sync::Arc};

use sea_orm::DatabaseTransaction;

use crate::{
    auth::cache::PrincipalCache,
    db::{Db, WriteTx},
    error::Result,
    realtime::{
        Realtime,
        event::{Actor, EventType, Revoke},
        log,
    },
};

/// Opens write transactions; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    db: Db,
    realtime: Realtime,
    principals: Arc<PrincipalCache>,
}

/// A write transaction with the events and effects it will have once committed.
pub struct Write<'w> {
    tx: WriteTx,
    writer: &'w Writer,
    events: Vec<(EventType, Option<Actor>, serde_json::Value)>,
    revokes: Vec<Revoke>,
    forget_users: Vec<String>,
}

impl Writer {
    pub fn new(db: Db, realtime: Realtime, principals: PrincipalCache) -> Self {
        Self {
            db,
            realtime,
            principals: Arc::new(principals),
        }
    }

    /// Resolved sessions, dropped by the commits that revoke or change them.
    pub fn principals(&self) -> &PrincipalCache {
        &self.principals
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn realtime(&self) -> &Realtime {
        &self.realtime
    }

    pub async fn begin(&self) -> Result<Write<'_>> {
        Ok(Write {
            tx: self.db.begin_write().await?,
            writer: self,
            events: Vec::new(),
            revokes: Vec::new(),
            forget_users: Vec::new(),
        })
    }
}

impl Write<'_> {
    /// Records a durable event of this change (appended in order at commit).
    pub fn event(&mut self, kind: EventType, actor: Option<&Actor>, data: serde_json::Value) {
        debug_assert!(kind.is_durable());
        self.events.push((kind, actor.cloned(), data));
    }

    /// After commit: the target's cached sessions are dropped and its sockets closed with 4401,
    /// here and on every instance.
    pub fn revoke(&mut self, target: Revoke) {
        self.revokes.push(target);
    }

    /// After commit: the user's cached sessions are dropped (their role or name changed).
    pub fn forget_user(&mut self, user_id: &str) {
        self.forget_users.push(user_id.to_owned());
    }

    /// Appends the events, commits, then invalidates, wakes the hub and revokes. Returns the
    /// last event's seq, if there was any event.
    pub async fn commit(self) -> Result<Option<i64>> {
        let Write {
            tx,
            writer,
            events,
            revokes,
            forget_users,
        } = self;
        let last = log::append(&*tx, &events).await?;
        tx.commit().await?;
        let principals = &writer.principals;
        for id in &forget_users {
            principals.invalidate_user(id);
        }
        for target in &revokes {
            match target {
                Revoke::User(id) => principals.invalidate_user(id),
                Revoke::Session(id) => principals.invalidate_session(id),
            }
        }
        if let Some(seq) = last {
            writer.realtime.log_advanced(seq);
        }
        for target in revokes {
            writer.realtime.revoke(target).await;
        }
        Ok(last)
    }
}

impl Deref for Write<'_> {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}
