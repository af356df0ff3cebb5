//! The durable event log: appended inside the transaction of the change it describes, read by the
//! hub, by `resume` replays and by `GET /api/events`.

use chrono::{DateTime, Duration, Utc};
use entity::event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement,
    sea_query::{Expr, SimpleExpr},
};

use super::event::{Actor, EventType, frame_text};
use crate::error::{Error, Result};

/// The log's epoch (docs/API.md §6.4): read, or created on the very first start. Concurrent
/// first starts race on the single row's primary key; the loser reads the winner's.
pub async fn epoch(db: &impl ConnectionTrait) -> Result<String> {
    let backend = db.get_database_backend();
    let read = Statement::from_string(backend, "SELECT epoch FROM log_identity WHERE id = 1");
    if let Some(row) = db.query_one_raw(read.clone()).await? {
        return Ok(row.try_get("", "epoch")?);
    }
    let insert = Statement::from_sql_and_values(
        backend,
        match backend {
            DbBackend::Postgres => {
                "INSERT INTO log_identity (id, epoch, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING"
            }
            _ => "INSERT OR IGNORE INTO log_identity (id, epoch, created_at) VALUES (1, ?, ?)",
        },
        [
            uuid::Uuid::now_v7().simple().to_string().into(),
            Utc::now().into(),
        ],
    );
    db.execute_raw(insert).await?;
    let row = db
        .query_one_raw(read)
        .await?
        .ok_or_else(|| Error::Internal("log identity missing after insert".into()))?;
    Ok(row.try_get("", "epoch")?)
}

/// Gives the log a new epoch (a restore: the log is now older than what clients have seen, so
/// a resume naming the old epoch must get `resync`).
pub async fn renew_epoch(db: &impl ConnectionTrait) -> Result<String> {
    let backend = db.get_database_backend();
    let epoch = uuid::Uuid::now_v7().simple().to_string();
    db.execute_raw(Statement::from_string(
        backend,
        "DELETE FROM log_identity WHERE id = 1",
    ))
    .await?;
    let insert = Statement::from_sql_and_values(
        backend,
        match backend {
            DbBackend::Postgres => {
                "INSERT INTO log_identity (id, epoch, created_at) VALUES (1, $1, $2)"
            }
            _ => "INSERT INTO log_identity (id, epoch, created_at) VALUES (1, ?, ?)",
        },
        [epoch.clone().into(), Utc::now().into()],
    );
    db.execute_raw(insert).await?;
    Ok(epoch)
}

/// Channel of the PostgreSQL notifications that tell other instances about new events.
pub const NOTIFY_CHANNEL: &str = "switchboard";

/// Rows per `INSERT` of [`append`] (7 columns: 3,500 parameters, within both backends' limits).
const APPEND_ROWS: usize = 500;

/// Appends a write's durable events, in order, and returns the last one's seq (`None` without
/// events). Call it last in the write transaction: from here to commit, other event writers wait
/// on the `event_seq` row lock, which is what makes seq gap-free and commit-ordered (no reader
/// can see N+1 before N has committed). One statement reserves all the seqs, the rows go in 500
/// at a time and one notification names the last seq (instances read the log up to it), so a
/// write with thousands of events (a bulk import) holds that lock for milliseconds, not for a
/// few round trips per event.
pub async fn append(
    db: &impl ConnectionTrait,
    events: &[(EventType, Option<Actor>, serde_json::Value)],
) -> Result<Option<i64>> {
    if events.is_empty() {
        return Ok(None);
    }
    debug_assert!(events.iter().all(|(kind, _, _)| kind.is_durable()));
    let backend = db.get_database_backend();
    let count = i64::try_from(events.len())
        .map_err(|_| Error::Internal("too many events in one write".into()))?;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DbBackend::Postgres => {
                    "UPDATE event_seq SET last = last + $1 WHERE id = 1 RETURNING last"
                }
                _ => "UPDATE event_seq SET last = last + ? WHERE id = 1 RETURNING last",
            },
            [count.into()],
        ))
        .await?
        .ok_or_else(|| Error::Internal("event_seq row missing".into()))?;
    let last: i64 = row.try_get_by_index(0)?;
    let now = Utc::now();
    let mut seq = last - count;
    for chunk in events.chunks(APPEND_ROWS) {
        let rows = chunk.iter().map(|(kind, actor, data)| {
            seq += 1;
            event::ActiveModel {
                seq: Set(seq),
                kind: Set(kind.as_str().to_owned()),
                topic: Set(kind.topic().as_str().to_owned()),
                actor_id: Set(actor.as_ref().map(|a| a.id.clone())),
                actor_username: Set(actor.as_ref().map(|a| a.username.clone())),
                data: Set(data.to_string()),
                created_at: Set(now),
            }
        });
        event::Entity::insert_many(rows.collect::<Vec<_>>())
            .exec_without_returning(db)
            .await?;
    }
    super::traffic::record(db, events, now).await?;
    if backend == DbBackend::Postgres {
        // Delivered to every listening instance when (and only if) the transaction commits.
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), format!("{{\"log\":{last}}}").into()],
        ))
        .await?;
    }
    Ok(Some(last))
}

/// The latest committed seq (0 before the first event).
pub async fn head(db: &impl ConnectionTrait) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT last FROM event_seq WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| Error::Internal("event_seq row missing".into()))?;
    Ok(row.try_get_by_index(0)?)
}

/// The last seq of any of `kinds` still in the log (0 if none): what list totals are cached
/// against (`pagination::Totals`). One statement, one `(type, seq)` index lookup per kind (a
/// `max` over `type IN (…)` would read every event of those types).
pub async fn last_of(db: &impl ConnectionTrait, kinds: &[EventType]) -> Result<i64> {
    if kinds.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let placeholder = |i: usize| match backend {
        DbBackend::Postgres => format!("${}", i + 1),
        _ => "?".to_owned(),
    };
    let parts: Vec<String> = (0..kinds.len())
        .map(|i| {
            format!(
                "SELECT max(seq) AS s FROM events WHERE type = {}",
                placeholder(i)
            )
        })
        .collect();
    let sql = format!(
        "SELECT coalesce(max(s), 0) FROM ({}) AS last_seqs",
        parts.join(" UNION ALL ")
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            kinds.iter().map(|k| k.as_str().into()),
        ))
        .await?
        .ok_or_else(|| Error::Internal("no row from max(seq)".into()))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The oldest seq still in the log, if any.
pub async fn oldest(db: &impl ConnectionTrait) -> Result<Option<i64>> {
    Ok(event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .order_by_asc(event::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?)
}

/// Events with `after < seq <= upto`, ascending, at most `limit`.
pub async fn range(
    db: &impl ConnectionTrait,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::Seq.gt(after))
        .filter(event::Column::Seq.lte(upto))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// Filters of `GET /api/events`.
#[derive(Debug, Default)]
pub struct Query {
    pub after: Option<i64>,
    pub before: Option<i64>,
    /// Any of these types (`None`: every type; empty: nothing).
    pub kinds: Option<Vec<String>>,
    pub actor: Option<String>,
    /// `ts >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `ts < until`.
    pub until: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// How far out of seq order two events' timestamps may be: an event written after another (a
/// greater seq) is assumed to carry a `ts` at most this much earlier. `ts` is taken once the
/// writer holds the `event_seq` lock, so on one clock it grows with seq; this covers clock
/// steps and skew between instances. A date range is turned into a seq window widened by it
/// (see [`seq_window`]).
pub const TS_SLACK: Duration = Duration::seconds(60);

/// The audit trail: ascending after `after`, or newest first before `before`. Every filter walks
/// an index in seq order (`(type, seq)`, `(actor_id, seq)`, `(actor_username, seq)`,
/// `(type, actor_*, seq)`), so a page costs its length, not the log's (docs/API.md §6.6). A date
/// range narrows the walk to a seq window found on the `created_at` index; the exact `ts`
/// condition is checked on the rows inside it.
pub async fn list(db: &impl ConnectionTrait, q: &Query) -> Result<Vec<event::Model>> {
    if q.kinds.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    if let (Some(since), Some(until)) = (q.since, q.until)
        && since >= until
    {
        return Ok(Vec::new());
    }
    let (floor, ceiling) = seq_window(db, q.since, q.until).await?;
    let bounds = Bounds {
        gt: match q.before {
            Some(_) => floor,
            None => Some(q.after.unwrap_or(0).max(floor.unwrap_or(i64::MIN))),
        },
        lt: match (q.before, ceiling) {
            (Some(b), Some(c)) => Some(b.min(c)),
            (b, c) => b.or(c),
        },
    };
    if let (Some(gt), Some(lt)) = (bounds.gt, bounds.lt)
        && gt.saturating_add(1) >= lt
    {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let kinds: Vec<Option<&str>> = match &q.kinds {
        None => vec![None],
        Some(kinds) => kinds.iter().map(|k| Some(k.as_str())).collect(),
    };
    let actors: Vec<Option<SimpleExpr>> = match &q.actor {
        None => vec![None],
        Some(actor) => vec![
            Some(event::Column::ActorId.eq(actor.as_str())),
            Some(event::Column::ActorUsername.eq(actor.as_str())),
        ],
    };
    if kinds.len() == 1 && actors.len() == 1 {
        return Ok(select(backend, q, &bounds, kinds[0], actors[0].clone())
            .all(db)
            .await?);
    }
    // Several types, or "by id or username": as one `IN`/`OR` the database would merge and sort
    // every match in full. One page-sized walk per combination (seqs only, from the index),
    // merged here, then the page's rows by primary key.
    let mut seqs: Vec<i64> = Vec::new();
    for kind in &kinds {
        for actor in &actors {
            let walk: Vec<i64> = select(backend, q, &bounds, *kind, actor.clone())
                .select_only()
                .column(event::Column::Seq)
                .into_tuple()
                .all(db)
                .await?;
            seqs.extend(walk);
        }
    }
    if q.before.is_some() {
        seqs.sort_unstable_by_key(|s| std::cmp::Reverse(*s));
    } else {
        seqs.sort_unstable();
    }
    seqs.dedup();
    seqs.truncate(usize::try_from(q.limit).unwrap_or(usize::MAX));
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = event::Entity::find().filter(event::Column::Seq.is_in(seqs));
    let rows = if q.before.is_some() {
        rows.order_by_desc(event::Column::Seq)
    } else {
        rows.order_by_asc(event::Column::Seq)
    };
    Ok(rows.all(db).await?)
}

/// Exclusive seq bounds of a walk.
struct Bounds {
    gt: Option<i64>,
    lt: Option<i64>,
}

/// One page-sized walk in seq order: the bounds, one type, one actor condition, the date range.
fn select(
    backend: DbBackend,
    q: &Query,
    bounds: &Bounds,
    kind: Option<&str>,
    actor: Option<SimpleExpr>,
) -> sea_orm::Select<event::Entity> {
    let mut select = event::Entity::find();
    if let Some(kind) = kind {
        select = select.filter(event::Column::Kind.eq(kind));
    }
    if let Some(actor) = actor {
        select = select.filter(actor);
    }
    if let Some(gt) = bounds.gt {
        select = select.filter(event::Column::Seq.gt(gt));
    }
    if let Some(lt) = bounds.lt {
        select = select.filter(event::Column::Seq.lt(lt));
    }
    if let Some(since) = q.since {
        select = select.filter(ts_condition(backend, TsOp::AtOrAfter, since));
    }
    if let Some(until) = q.until {
        select = select.filter(ts_condition(backend, TsOp::Before, until));
    }
    select = if q.before.is_some() {
        select.order_by_desc(event::Column::Seq)
    } else {
        select.order_by_asc(event::Column::Seq)
    };
    select.limit(q.limit)
}

/// `created_at <op> ts`, checked on the rows of a seq-ordered walk. On SQLite the column is
/// written `+created_at`, which keeps the planner off the `created_at` index: without
/// statistics it would take that index for a two-sided range and sort every match, where the
/// seq walk stops after a page.
fn ts_condition(backend: DbBackend, op: TsOp, ts: DateTime<Utc>) -> SimpleExpr {
    match (backend, op) {
        (DbBackend::Sqlite, TsOp::AtOrAfter) => {
            Expr::cust_with_values("+\"events\".\"created_at\" >= ?", [ts])
        }
        (DbBackend::Sqlite, TsOp::Before) => {
            Expr::cust_with_values("+\"events\".\"created_at\" < ?", [ts])
        }
        (_, TsOp::AtOrAfter) => event::Column::CreatedAt.gte(ts),
        (_, TsOp::Before) => event::Column::CreatedAt.lt(ts),
    }
}

#[derive(Debug, Clone, Copy)]
enum TsOp {
    AtOrAfter,
    Before,
}

/// The seq window outside which no event of `[since, until)` can lie, as exclusive bounds, from
/// two lookups on the `created_at` index: below the seq of an event older than `since` by more
/// than [`TS_SLACK`] every event is older than `since`, and above the seq of one at least
/// `TS_SLACK` past `until` every event is at or past `until`. Inside the window the walk checks
/// `ts` itself, so the window costs at most the events of a slack's width at each end.
async fn seq_window(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(Option<i64>, Option<i64>)> {
    let mut floor = None;
    if let Some(edge) = since.and_then(|s| s.checked_sub_signed(TS_SLACK)) {
        floor = event::Entity::find()
            .select_only()
            .column(event::Column::Seq)
            .filter(event::Column::CreatedAt.lt(edge))
            .order_by_desc(event::Column::CreatedAt)
            .limit(1)
            .into_tuple::<i64>()
            .one(db)
            .await?;
    }
    let mut ceiling = None;
    if let Some(edge) = until.and_then(|u| u.checked_add_signed(TS_SLACK)) {
        ceiling = event::Entity::find()
            .select_only()
            .column(event::Column::Seq)
            .filter(event::Column::CreatedAt.gte(edge))
            .order_by_asc(event::Column::CreatedAt)
            .limit(1)
            .into_tuple::<i64>()
            .one(db)
            .await?;
    }
    Ok((floor, ceiling))
}

/// Deletes events beyond the retention (older than `max_age` or beyond the newest `keep`), but
/// only below `delivered` (what this instance's hub has fanned out), so retention never takes
/// an event before the sockets got it. The newest event is always kept so `head` and replays
/// stay meaningful.
///
/// Two deletes, each on its own index, so a sweep costs the rows it removes: one condition
/// `seq <= n OR created_at < t` would make the database read every event of the log (about 2 s
/// at 10,000,000 events, docs/BENCHMARKS.md), once a minute, inside a write transaction.
pub async fn sweep(
    db: &impl ConnectionTrait,
    keep: u64,
    max_age: Duration,
    delivered: i64,
) -> Result<u64> {
    let head = head(db).await?.min(delivered + 1);
    let by_count = head - i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
    // Beyond the newest `keep`: a range of the primary key.
    let count = event::Entity::delete_many()
        .filter(event::Column::Seq.lte(by_count.min(head - 1)))
        .exec(db)
        .await?;
    // Older than `max_age`: a range of the `created_at` index. On SQLite the seq bound is written
    // `+seq` so the planner cannot take the primary key (every event below `head`) instead.
    let cutoff = Utc::now() - max_age;
    let below_head = match db.get_database_backend() {
        DbBackend::Sqlite => Expr::cust_with_values("+\"events\".\"seq\" < ?", [head]),
        _ => event::Column::Seq.lt(head),
    };
    let age = event::Entity::delete_many()
        .filter(event::Column::CreatedAt.lt(cutoff))
        .filter(below_head)
        .exec(db)
        .await?;
    Ok(count.rows_affected + age.rows_affected)
}

/// The JSON text of a stored event, as sent to clients.
pub fn to_frame(m: &event::Model) -> String {
    let actor = match (&m.actor_id, &m.actor_username) {
        (Some(id), Some(username)) => Some(Actor {
            id: id.clone(),
            username: username.clone(),
        }),
        _ => None,
    };
    frame_text(&m.kind, Some(m.seq), m.created_at, actor.as_ref(), &m.data)
}
