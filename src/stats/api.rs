//! `GET /api/stats` (docs/API.md §7.1): a thin handler over [`super::service`].

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};

use super::service::{self, Point};
use crate::{auth::guard::BearerAuth, error::ApiResult, state::AppState, tags::ApiTags};

pub struct StatsApi;

/// Traffic from `start`, for one hour (`hourly`) or one day (`daily`).
#[derive(Debug, Object)]
pub struct StatsPoint {
    pub start: DateTime<Utc>,
    /// Completed downloads (`download.completed`).
    pub downloads: i64,
    pub download_bytes: i64,
    /// Files stored (`file.created`: uploads, resumable uploads, URL imports).
    pub uploads: i64,
    pub upload_bytes: i64,
}

impl From<Point> for StatsPoint {
    fn from(p: Point) -> Self {
        Self {
            start: p.start,
            downloads: p.downloads,
            download_bytes: p.download_bytes,
            uploads: p.uploads,
            upload_bytes: p.upload_bytes,
        }
    }
}

/// A file among the most downloaded.
#[derive(Debug, Object)]
pub struct BusyFile {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub download_count: i64,
}

/// The dashboard's figures.
#[derive(Debug, Object)]
pub struct Stats {
    pub generated_at: DateTime<Utc>,
    /// Every user.
    pub users: u64,
    pub admins: u64,
    pub disabled: u64,
    pub files: u64,
    /// Bytes of every stored file.
    pub bytes_stored: u64,
    /// Completed downloads since midnight (of `tz_offset_minutes`).
    pub downloads_today: i64,
    /// Files stored since midnight.
    pub uploads_today: i64,
    /// Downloads and uploads streaming now on the instance that answered.
    pub transfers_in_flight: u64,
    /// Users with an open panel (WebSocket) on the instance that answered.
    pub online: u64,
    pub admins_online: u64,
    /// The last 24 hours, oldest first; the last point is the current hour.
    pub hourly: Vec<StatsPoint>,
    /// The last 30 days, oldest first; the last point is today.
    pub daily: Vec<StatsPoint>,
    /// The most downloaded files (at most 5, each downloaded at least once).
    pub busiest_files: Vec<BusyFile>,
}

#[OpenApi(tag = "ApiTags::Stats")]
impl StatsApi {
    /// Dashboard figures
    ///
    /// Counts of users and files, downloads and uploads per hour over 24 hours and per day over
    /// 30 days, the busiest files, and what is live. Cheap at any size: counts are cached per
    /// change and traffic comes from hourly counters, never from scanning the log.
    /// `tz_offset_minutes` (minutes east of UTC, e.g. 480 for UTC+8; default 0) says where days
    /// begin.
    #[oai(path = "/stats", method = "get", operation_id = "get_stats")]
    async fn stats(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        tz_offset_minutes: Query<Option<i64>>,
    ) -> ApiResult<Json<Stats>> {
        let s = service::stats(
            state.db().conn(),
            state.stats(),
            state.realtime().tracker(),
            tz_offset_minutes.0.unwrap_or(0),
            Utc::now(),
        )
        .await?;
        Ok(Json(Stats {
            generated_at: s.generated_at,
            users: s.users.total,
            admins: s.users.admins,
            disabled: s.users.disabled,
            files: s.files.total,
            bytes_stored: s.files.bytes,
            downloads_today: s.downloads_today,
            uploads_today: s.uploads_today,
            transfers_in_flight: s.transfers_in_flight,
            online: s.online,
            admins_online: s.admins_online,
            hourly: s.hourly.into_iter().map(Into::into).collect(),
            daily: s.daily.into_iter().map(Into::into).collect(),
            busiest_files: s
                .busiest
                .into_iter()
                .map(|f| BusyFile {
                    id: f.id,
                    name: f.name,
                    size: f.size,
                    download_count: f.download_count,
                })
                .collect(),
        }))
    }
}
