//! Hourly download and upload counters (`traffic_hourly`), kept by [`super::log::append`] in the
//! transaction of the events they count (`download.completed` with its `bytes`, `file.created`
//! with the file's `size`), so `GET /api/stats` reads at most 720 small rows however long the
//! log is (docs/API.md §7.1). The only code writing `traffic_hourly`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::event::{Actor, EventType};
use crate::error::Result;

/// Counters older than this many days are dropped by the log sweeper.
pub const KEEP_DAYS: i64 = 40;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub count: i64,
    pub bytes: i64,
}

/// One hour's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hour {
    pub downloads: Counts,
    pub uploads: Counts,
}

/// Hours since the Unix epoch.
pub fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

/// Adds the traffic of a write's events to their hour's counters.
pub async fn record(
    db: &impl ConnectionTrait,
    events: &[(EventType, Option<Actor>, serde_json::Value)],
    at: DateTime<Utc>,
) -> Result<()> {
    let mut downloads = Counts::default();
    let mut uploads = Counts::default();
    for (kind, _, data) in events {
        let (into, field) = match kind {
            EventType::DownloadCompleted => (&mut downloads, "bytes"),
            EventType::FileCreated => (&mut uploads, "size"),
            _ => continue,
        };
        into.count += 1;
        into.bytes += data[field].as_i64().unwrap_or(0);
    }
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO traffic_hourly (hour, direction, count, bytes) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (hour, direction) DO UPDATE SET count = traffic_hourly.count + \
             excluded.count, bytes = traffic_hourly.bytes + excluded.bytes"
        }
        _ => {
            "INSERT INTO traffic_hourly (hour, direction, count, bytes) VALUES (?, ?, ?, ?) \
             ON CONFLICT (hour, direction) DO UPDATE SET count = traffic_hourly.count + \
             excluded.count, bytes = traffic_hourly.bytes + excluded.bytes"
        }
    };
    let hour = hour_of(at);
    for (direction, c) in [("download", downloads), ("upload", uploads)] {
        if c.count == 0 {
            continue;
        }
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                hour.into(),
                direction.into(),
                c.count.into(),
                c.bytes.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// The counters of hours `from..=to`, by hour (hours without traffic are absent).
pub async fn read(db: &impl ConnectionTrait, from: i64, to: i64) -> Result<BTreeMap<i64, Hour>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT hour, direction, count, bytes FROM traffic_hourly WHERE hour >= $1 AND hour <= $2"
        }
        _ => {
            "SELECT hour, direction, count, bytes FROM traffic_hourly WHERE hour >= ? AND hour <= ?"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [from.into(), to.into()],
        ))
        .await?;
    let mut out: BTreeMap<i64, Hour> = BTreeMap::new();
    for row in rows {
        let hour: i64 = row.try_get("", "hour")?;
        let direction: String = row.try_get("", "direction")?;
        let counts = Counts {
            count: row.try_get("", "count")?,
            bytes: row.try_get("", "bytes")?,
        };
        let entry = out.entry(hour).or_default();
        match direction.as_str() {
            "download" => entry.downloads = counts,
            _ => entry.uploads = counts,
        }
    }
    Ok(out)
}

/// Drops counters older than [`KEEP_DAYS`].
pub async fn sweep(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    let backend = db.get_database_backend();
    let cutoff = hour_of(now) - KEEP_DAYS * 24;
    let sql = match backend {
        DbBackend::Postgres => "DELETE FROM traffic_hourly WHERE hour < $1",
        _ => "DELETE FROM traffic_hourly WHERE hour < ?",
    };
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [cutoff.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::hour_of;

    #[test]
    fn hours_are_utc_hours_since_the_epoch() {
        let t: chrono::DateTime<chrono::Utc> = "1970-01-01T01:59:59Z".parse().expect("a time");
        assert_eq!(hour_of(t), 1);
        let t: chrono::DateTime<chrono::Utc> = "2026-12-03T10:00:00Z".parse().expect("a time");
        assert_eq!(hour_of(t) % 24, 10);
    }
}
