//! Download slots of limited files and links, shared by every instance through the database.
//!
//! The database counter is the authority: a download is counted, under its limit, only when its
//! last byte goes out (`service::count_download`). A client must not get most of a file and then
//! be cut off because others finished first, so a download that could complete first takes a
//! slot: a `download_slots` row, granted only while fewer slots are live than downloads remain
//! (`max_downloads - download_count`) for the file and for the link. Otherwise the client is told
//! to retry (429).
//!
//! - Takers of one file serialise on its row (`SELECT … FOR UPDATE` on PostgreSQL, the writer
//!   lock on SQLite) and read the counters under that lock, so the check holds across instances.
//! - The slot is deleted in the transaction that counts its download ([`release_in`]): no taker
//!   can see the slot gone but the count not yet raised.
//! - A download that ends without being counted deletes its slot when its guard drops.
//! - A slot is a lease, renewed while its transfer lives: the slots of an instance that died stop
//!   counting once their lease lapses.
//!
//! None of these writes is an event: slots are bookkeeping, not state anyone watches.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{download_slot, file, share_link};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
    sea_query::{Expr, SimpleExpr},
};
use tokio::task::AbortHandle;

use super::limits;
use crate::{error::Result, write::Writer};

/// How long a slot counts without renewal: the longest a dead instance's downloads keep others
/// out.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Well inside [`LEASE`], so one slow or failed renewal does not lose the slot.
const RENEW_EVERY: Duration = Duration::from_secs(20);

/// Takes slots; cheap to clone.
#[derive(Clone, Debug)]
pub struct Slots {
    lease: TimeDelta,
    renew_every: Duration,
}

impl Default for Slots {
    fn default() -> Self {
        Self {
            lease: LEASE,
            renew_every: RENEW_EVERY,
        }
    }
}

/// The answer to [`Slots::take`].
pub enum Taken {
    /// Neither the file nor the link has a limit: nothing to hold.
    Unlimited,
    /// Admitted: the transfer holds this until it is counted or ends.
    Slot(SlotGuard),
    /// Every remaining download is already in flight.
    Busy,
    /// Nothing is left to download: limit reached, expired, or deleted.
    Spent,
}

impl Slots {
    /// Takes a slot for one download of `file` (through `link`) that can complete. `file` and
    /// `link` are the caller's earlier reads: they only decide whether a limit applies (so
    /// unlimited downloads cost no write); the counters are read again under the row locks.
    pub async fn take(
        &self,
        writer: &Writer,
        file: &file::Model,
        link: Option<&share_link::Model>,
    ) -> Result<Taken> {
        if file.max_downloads.is_none() && link.is_none_or(|l| l.max_downloads.is_none()) {
            // A limit set meanwhile is still enforced by the count, as for any running download.
            return Ok(Taken::Unlimited);
        }
        let now = Utc::now();
        let tx = writer.begin().await?;
        // File, then link, then slots: the order `count_download` writes them in, so two
        // transactions never wait on each other in a cycle.
        let Some(file) = file::Entity::find_by_id(file.id.as_str())
            .lock_exclusive()
            .one(&*tx)
            .await?
        else {
            return Ok(Taken::Spent);
        };
        let link = match link {
            Some(l) => match share_link::Entity::find_by_id(l.token.as_str())
                .lock_exclusive()
                .one(&*tx)
                .await?
            {
                Some(l) => Some(l),
                None => return Ok(Taken::Spent),
            },
            None => None,
        };
        if !limits::file_serving(&file, now)
            || link.as_ref().is_some_and(|l| !limits::link_serving(l, now))
        {
            return Ok(Taken::Spent);
        }
        // Lapsed leases (their instance died) no longer count. The link's slots are among the
        // file's.
        download_slot::Entity::delete_many()
            .filter(download_slot::Column::FileId.eq(file.id.as_str()))
            .filter(download_slot::Column::ExpiresAt.lte(now))
            .exec(&*tx)
            .await?;
        let mut room = true;
        if let Some(max) = file.max_downloads {
            room &= has_room(
                &*tx,
                max - file.download_count,
                download_slot::Column::FileId.eq(file.id.as_str()),
            )
            .await?;
        }
        if let Some(l) = &link
            && let Some(max) = l.max_downloads
        {
            room &= has_room(
                &*tx,
                max - l.download_count,
                download_slot::Column::LinkToken.eq(l.token.as_str()),
            )
            .await?;
        }
        if !room {
            tx.commit().await?; // keeps the lapsed leases' removal
            return Ok(Taken::Busy);
        }
        let id = uuid::Uuid::now_v7().to_string();
        download_slot::Entity::insert(download_slot::ActiveModel {
            id: Set(id.clone()),
            file_id: Set(file.id),
            link_token: Set(link.map(|l| l.token)),
            expires_at: Set(now + self.lease),
            created_at: Set(now),
        })
        .exec_without_returning(&*tx)
        .await?;
        tx.commit().await?;
        Ok(Taken::Slot(SlotGuard::new(writer.clone(), id, self)))
    }
}

async fn has_room(tx: &impl ConnectionTrait, remaining: i64, slots: SimpleExpr) -> Result<bool> {
    let live = download_slot::Entity::find()
        .filter(slots)
        .count(tx)
        .await?;
    Ok(live < u64::try_from(remaining).unwrap_or(0))
}

/// One taken slot. Renews its lease while it lives; dropping it without [`released`] deletes
/// the slot (the download ended without being counted).
pub struct SlotGuard {
    id: String,
    writer: Writer,
    /// Set once the counting transaction deleted the row.
    released: Arc<AtomicBool>,
    renewer: AbortHandle,
}

impl SlotGuard {
    fn new(writer: Writer, id: String, slots: &Slots) -> Self {
        let released = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew_while_held(
            writer.clone(),
            id.clone(),
            slots.clone(),
            released.clone(),
        ))
        .abort_handle();
        Self {
            id,
            writer,
            released,
            renewer,
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released.load(Ordering::Acquire) {
            return;
        }
        // Without a runtime (shutting down) the lease lapses instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (writer, id) = (self.writer.clone(), std::mem::take(&mut self.id));
        runtime.spawn(async move {
            if let Err(e) = delete(&writer, &id).await {
                tracing::warn!(error = %e, slot = %id, "freeing a download slot failed; its lease will lapse");
            }
        });
    }
}

/// Deletes `slot` inside `tx`, the transaction that counts its download. Call it after the
/// counters are updated (see the lock order in [`Slots::take`]).
pub async fn release_in(tx: &impl ConnectionTrait, slot: Option<&SlotGuard>) -> Result<()> {
    if let Some(slot) = slot {
        download_slot::Entity::delete_by_id(slot.id.as_str())
            .exec(tx)
            .await?;
    }
    Ok(())
}

/// The transaction of [`release_in`] committed: the row is gone, so stop renewing it and do not
/// delete it again on drop.
pub fn released(slot: Option<&SlotGuard>) {
    if let Some(slot) = slot {
        slot.released.store(true, Ordering::Release);
        slot.renewer.abort();
    }
}

async fn delete(writer: &Writer, id: &str) -> Result<()> {
    let tx = writer.begin().await?;
    download_slot::Entity::delete_by_id(id).exec(&*tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn renew_while_held(writer: Writer, id: String, slots: Slots, released: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + slots.renew_every,
        slots.renew_every,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match renew(&writer, &id, slots.lease, Utc::now()).await {
            Ok(true) => {}
            Ok(false) => {
                if !released.load(Ordering::Acquire) {
                    tracing::warn!(slot = %id, "download slot lease lapsed; the limit may refuse this download at its end");
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, slot = %id, "renewing a download slot failed"),
        }
    }
}

/// Extends a live lease; `false` when the slot is gone. A lapsed lease is not revived: a taker
/// may already have been admitted in its place.
async fn renew(writer: &Writer, id: &str, lease: TimeDelta, now: DateTime<Utc>) -> Result<bool> {
    let tx = writer.begin().await?;
    let renewed = download_slot::Entity::update_many()
        .col_expr(download_slot::Column::ExpiresAt, Expr::value(now + lease))
        .filter(download_slot::Column::Id.eq(id))
        .filter(download_slot::Column::ExpiresAt.gt(now))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(renewed.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db::Db, realtime::Realtime};

    /// A fresh SQLite database with one file limited to `max` downloads.
    async fn db_with_file(dir: &std::path::Path, max: i64) -> (Writer, file::Model) {
        let url = format!("sqlite://{}?mode=rwc", dir.join("slots.db").display());
        let db = Db::connect(&url, Some(2)).await.expect("connect");
        db.migrate().await.expect("migrate");
        let now = Utc::now();
        let model = file::Model {
            id: "f1".into(),
            name: "f".into(),
            name_lower: "f".into(),
            size: 1,
            content_type: "application/octet-stream".into(),
            sha256: "0".repeat(64),
            storage_key: "f1".into(),
            uploaded_by: None,
            created_at: now,
            updated_at: now,
            download_count: 0,
            expires_at: None,
            max_downloads: Some(max),
            version: 1,
        };
        file::Entity::insert(sea_orm::IntoActiveModel::into_active_model(model.clone()))
            .exec_without_returning(db.conn())
            .await
            .expect("insert file");
        let writer = Writer::new(
            db.clone(),
            Realtime::detached(db),
            crate::auth::cache::PrincipalCache::new(false),
        );
        (writer, model)
    }

    async fn live_slots(db: &Writer) -> u64 {
        download_slot::Entity::find()
            .count(db.db().conn())
            .await
            .expect("count")
    }

    async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn slots_are_limited_released_on_drop_and_lapse_when_not_renewed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, file) = db_with_file(dir.path(), 2).await;
        let slots = Slots {
            lease: TimeDelta::milliseconds(300),
            renew_every: Duration::from_millis(50),
        };
        let Taken::Slot(a) = slots.take(&db, &file, None).await.expect("a") else {
            panic!("first slot refused");
        };
        let Taken::Slot(b) = slots.take(&db, &file, None).await.expect("b") else {
            panic!("second slot refused");
        };
        assert!(matches!(
            slots.take(&db, &file, None).await.expect("c"),
            Taken::Busy
        ));

        // Renewal keeps a held slot live past its first lease.
        let first = download_slot::Entity::find_by_id(a.id.as_str())
            .one(db.db().conn())
            .await
            .expect("read")
            .expect("slot a")
            .expires_at;
        assert!(
            eventually(async || {
                download_slot::Entity::find_by_id(a.id.as_str())
                    .one(db.db().conn())
                    .await
                    .expect("read")
                    .is_some_and(|s| s.expires_at > first + TimeDelta::milliseconds(300))
            })
            .await,
            "lease of a held slot is renewed"
        );

        // Dropping frees the slot.
        drop(a);
        assert!(eventually(async || live_slots(&db).await == 1).await);
        let Taken::Slot(c) = slots.take(&db, &file, None).await.expect("c") else {
            panic!("a dropped slot is free again");
        };

        // A slot whose holder died (no renewal, no delete) stops counting once its lease lapses.
        for dead in [b, c] {
            dead.renewer.abort();
            dead.released.store(true, Ordering::Release);
        }
        assert!(
            eventually(async || matches!(
                slots.take(&db, &file, None).await.expect("take"),
                Taken::Slot(_)
            ))
            .await,
            "lapsed slots are reclaimed"
        );
    }

    #[tokio::test]
    async fn a_counted_slot_is_released_with_the_count_and_spent_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, file) = db_with_file(dir.path(), 1).await;
        let slots = Slots::default();
        let Taken::Slot(a) = slots.take(&db, &file, None).await.expect("a") else {
            panic!("slot refused");
        };
        let tx = db.begin().await.expect("begin");
        file::Entity::update_many()
            .col_expr(file::Column::DownloadCount, Expr::value(1))
            .filter(file::Column::Id.eq(file.id.as_str()))
            .exec(&*tx)
            .await
            .expect("count");
        release_in(&*tx, Some(&a)).await.expect("release");
        tx.commit().await.expect("commit");
        released(Some(&a));
        assert_eq!(live_slots(&db).await, 0);
        drop(a);
        assert!(matches!(
            slots.take(&db, &file, None).await.expect("take"),
            Taken::Spent
        ));
    }
}
