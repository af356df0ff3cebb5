//! The dashboard's figures, each from a source that stays cheap however large the deployment
//! grows: user and file counts are counted once per change (cached against the log's last
//! `user.*` / `file.*` seq, like list totals), traffic comes from the hourly counters
//! (`realtime::traffic`, at most 720 rows), the busiest files from an index on
//! `download_count`, and what is live (transfers, sockets) from this instance's memory.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use entity::file;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect, Statement};

use crate::{
    error::{Error, Result},
    files::{self, transfer},
    realtime::{ConnTracker, log, traffic},
    users,
};

/// Hourly points in the day series and daily points in the month series.
pub const HOURS: i64 = 24;
pub const DAYS: i64 = 30;
/// Files in the busiest list.
const BUSIEST: u64 = 5;

#[derive(Debug, Clone, Default)]
pub struct UserCounts {
    pub total: u64,
    pub admins: u64,
    pub disabled: u64,
}

#[derive(Debug, Clone, Default)]
pub struct FileCounts {
    pub total: u64,
    pub bytes: u64,
}

/// One point of a series: the traffic from `start` for an hour or a day.
#[derive(Debug, Clone)]
pub struct Point {
    pub start: DateTime<Utc>,
    pub downloads: i64,
    pub download_bytes: i64,
    pub uploads: i64,
    pub upload_bytes: i64,
}

pub struct Stats {
    pub generated_at: DateTime<Utc>,
    pub users: UserCounts,
    pub files: FileCounts,
    pub downloads_today: i64,
    pub uploads_today: i64,
    pub transfers_in_flight: u64,
    pub online: u64,
    pub admins_online: u64,
    pub hourly: Vec<Point>,
    pub daily: Vec<Point>,
    pub busiest: Vec<file::Model>,
}

/// Counts cached against the log's last seq of their changes.
#[derive(Default)]
pub struct CountCache {
    users: Mutex<Option<(i64, UserCounts)>>,
    files: Mutex<Option<(i64, FileCounts)>>,
}

fn cached<T: Clone>(slot: &Mutex<Option<(i64, T)>>, version: i64) -> Option<T> {
    let slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    slot.as_ref()
        .filter(|(v, _)| *v == version)
        .map(|(_, t)| t.clone())
}

fn store<T>(slot: &Mutex<Option<(i64, T)>>, version: i64, value: T) {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, value));
}

fn count(row: &sea_orm::QueryResult, col: &str) -> Result<u64> {
    // SUM is NUMERIC on PostgreSQL; the queries cast it back to BIGINT.
    let n: i64 = row.try_get("", col)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn user_counts(db: &impl ConnectionTrait, cache: &CountCache) -> Result<UserCounts> {
    let version = log::last_of(db, users::service::CHANGES).await?;
    if let Some(c) = cached(&cache.users, version) {
        return Ok(c);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS total, \
             CAST(COALESCE(SUM(CASE WHEN role = 'admin' THEN 1 ELSE 0 END), 0) AS BIGINT) AS admins, \
             CAST(COALESCE(SUM(CASE WHEN disabled THEN 1 ELSE 0 END), 0) AS BIGINT) AS disabled \
             FROM users",
        ))
        .await?
        .ok_or_else(|| Error::Internal("count returned nothing".into()))?;
    let counts = UserCounts {
        total: count(&row, "total")?,
        admins: count(&row, "admins")?,
        disabled: count(&row, "disabled")?,
    };
    store(&cache.users, version, counts.clone());
    Ok(counts)
}

async fn file_counts(db: &impl ConnectionTrait, cache: &CountCache) -> Result<FileCounts> {
    let version = log::last_of(db, files::service::CHANGES).await?;
    if let Some(c) = cached(&cache.files, version) {
        return Ok(c);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS total, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM files",
        ))
        .await?
        .ok_or_else(|| Error::Internal("count returned nothing".into()))?;
    let counts = FileCounts {
        total: count(&row, "total")?,
        bytes: count(&row, "bytes")?,
    };
    store(&cache.files, version, counts.clone());
    Ok(counts)
}

/// Everything the dashboard shows. Days (for `downloads_today` and the daily series) start at
/// midnight of the caller's time zone, `tz_offset_minutes` east of UTC.
pub async fn stats(
    db: &impl ConnectionTrait,
    cache: &CountCache,
    tracker: &ConnTracker,
    tz_offset_minutes: i64,
    now: DateTime<Utc>,
) -> Result<Stats> {
    if !(-14 * 60..=14 * 60).contains(&tz_offset_minutes) {
        return Err(Error::BadRequest(
            "tz_offset_minutes must be between -840 and 840".into(),
        ));
    }
    let users = user_counts(db, cache).await?;
    let files = file_counts(db, cache).await?;
    let offset = Duration::minutes(tz_offset_minutes);
    // Local midnight today, as a UTC instant.
    let local_now = now + offset;
    let midnight = local_now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - offset)
        .unwrap_or(now);
    let this_hour = traffic::hour_of(now);
    let first_day = midnight - Duration::days(DAYS - 1);
    // Hours are UTC hours; a day of a zone with a half-hour offset starts mid-hour, and that
    // hour counts towards the day it starts in.
    let from = traffic::hour_of(first_day).min(this_hour - (HOURS - 1));
    let rows = traffic::read(db, from, this_hour).await?;
    let point = |start: DateTime<Utc>, hours: std::ops::Range<i64>| {
        let mut p = Point {
            start,
            downloads: 0,
            download_bytes: 0,
            uploads: 0,
            upload_bytes: 0,
        };
        for (_, h) in rows.range(hours) {
            p.downloads += h.downloads.count;
            p.download_bytes += h.downloads.bytes;
            p.uploads += h.uploads.count;
            p.upload_bytes += h.uploads.bytes;
        }
        p
    };
    let hourly = (0..HOURS)
        .map(|i| {
            let hour = this_hour - (HOURS - 1) + i;
            let start = DateTime::from_timestamp(hour * 3600, 0).unwrap_or(now);
            point(start, hour..hour + 1)
        })
        .collect();
    let daily: Vec<Point> = (0..DAYS)
        .map(|i| {
            let start = first_day + Duration::days(i);
            let end = start + Duration::days(1);
            point(start, traffic::hour_of(start)..traffic::hour_of(end))
        })
        .collect();
    let today = daily.last().cloned();
    let busiest = file::Entity::find()
        .order_by_desc(file::Column::DownloadCount)
        .order_by_desc(file::Column::Id)
        .limit(BUSIEST)
        .all(db)
        .await?
        .into_iter()
        .filter(|f| f.download_count > 0)
        .collect();
    let (online, admins_online) = tracker.online_counts();
    Ok(Stats {
        generated_at: now,
        users,
        files,
        downloads_today: today.as_ref().map_or(0, |p| p.downloads),
        uploads_today: today.as_ref().map_or(0, |p| p.uploads),
        transfers_in_flight: transfer::in_flight(),
        online,
        admins_online,
        hourly,
        daily,
        busiest,
    })
}
