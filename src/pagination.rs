//! List conventions of docs/API.md §2.2: `page`, `per_page` (max 200), `sort=field|-field`,
//! `q`, and the keyset cursor `after` (a page that starts after the last item of the previous
//! one, whatever its depth costs the same), plus the cache of list totals.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Value,
    sea_query::{Expr, ExprTrait},
};
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    realtime::{event::EventType, log},
};

pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;
/// Databases take signed 64-bit offsets; a page starting past this is refused, not sent.
const MAX_OFFSET: u64 = i64::MAX as u64;

#[derive(Debug, Clone, Copy)]
pub struct PageParams {
    pub page: u64,
    pub per_page: u64,
}

impl PageParams {
    pub fn parse(page: Option<u64>, per_page: Option<u64>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(Error::BadRequest("page must be at least 1".into()));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Error::BadRequest(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        if (page - 1)
            .checked_mul(per_page)
            .is_none_or(|offset| offset > MAX_OFFSET)
        {
            return Err(Error::BadRequest(format!(
                "page is too large for per_page {per_page}"
            )));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// Resolves `sort` against the allowed `(name, column)` pairs; `-name` means descending.
pub fn parse_sort<C: Copy>(
    sort: Option<&str>,
    allowed: &[(&str, C)],
    default: C,
) -> Result<(C, bool)> {
    let Some(raw) = sort.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((default, false));
    };
    let (name, desc) = match raw.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (raw.strip_prefix('+').unwrap_or(raw), false),
    };
    allowed
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| (*c, desc))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            Error::BadRequest(format!(
                "cannot sort by '{name}'; use one of: {}",
                names.join(", ")
            ))
        })
}

/// `%q%` for a case-insensitive LIKE, with `\` escaping the wildcards in `q`.
pub fn contains_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Where the next page starts: the sort it belongs to, the last item's sort value and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The `sort` parameter the cursor was made for (a cursor is only valid with it).
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "v")]
    pub value: serde_json::Value,
    #[serde(rename = "i")]
    pub id: String,
}

impl Cursor {
    /// Opaque to clients: URL-safe base64 of a small JSON object.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes `raw`, which must have been made for `sort` (400 otherwise).
    pub fn decode(raw: &str, sort: &str) -> Result<Self> {
        let bad = || Error::BadRequest("after is not a cursor this list handed out".into());
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.sort != sort {
            return Err(Error::BadRequest(format!(
                "this cursor was made for sort '{}'; send the same sort with it",
                cursor.sort
            )));
        }
        Ok(cursor)
    }
}

/// Rows after `(value, id)` in the order `ORDER BY col <dir>, id <dir>`, as a row-value
/// comparison `(col, id) > (value, id)` that both databases answer with a range scan of the
/// `(col, id)` index. NULLs sort first in ascending order on SQLite and last on PostgreSQL (and
/// the other way round descending); for a `nullable` column the condition follows the backend's
/// order, so offset pages and cursor pages agree.
pub fn after<C: ColumnTrait + Copy>(
    backend: DbBackend,
    col: C,
    id_col: C,
    desc: bool,
    nullable: bool,
    value: Value,
    id: &str,
) -> Condition {
    let nulls_first = (backend == DbBackend::Sqlite) != desc;
    if value_is_null(&value) {
        let id_beyond = if desc { id_col.lt(id) } else { id_col.gt(id) };
        let same = Condition::all().add(col.is_null()).add(id_beyond);
        return if nulls_first {
            Condition::any().add(same).add(col.is_not_null())
        } else {
            same
        };
    }
    let lhs = Expr::tuple([Expr::col(col), Expr::col(id_col)]);
    let rhs = Expr::tuple([Expr::val(value), Expr::val(id)]);
    let beyond = if desc { lhs.lt(rhs) } else { lhs.gt(rhs) };
    let cond = Condition::any().add(beyond);
    if nullable && !nulls_first {
        cond.add(col.is_null())
    } else {
        cond
    }
}

/// One page of a list.
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: u64,
    /// Cursor of the page after this one, if there is one.
    pub next: Option<String>,
}

/// The SQL type of a sort column, for turning a cursor's JSON value back into a query value.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Int,
    Time,
}

/// A cursor's JSON value as a database value of `kind` (400 for anything else).
fn cursor_value(kind: Kind, v: &serde_json::Value) -> Result<Value> {
    let bad = || Error::BadRequest("after is not a cursor this list handed out".into());
    Ok(match (kind, v) {
        (Kind::Text, serde_json::Value::Null) => Option::<String>::None.into(),
        (Kind::Text, serde_json::Value::String(s)) => s.clone().into(),
        (Kind::Int, serde_json::Value::Null) => Option::<i64>::None.into(),
        (Kind::Int, serde_json::Value::Number(n)) => n.as_i64().ok_or_else(bad)?.into(),
        (Kind::Time, serde_json::Value::Null) => Option::<DateTime<Utc>>::None.into(),
        (Kind::Time, serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| bad())?
            .with_timezone(&Utc)
            .into(),
        _ => return Err(bad()),
    })
}

/// A timestamp as a cursor carries it (full precision, so no row is skipped or repeated).
pub fn time_json(t: &DateTime<Utc>) -> serde_json::Value {
    serde_json::Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// How a list is ordered, and how its rows map back to cursor positions.
pub struct Order<C, M> {
    /// The `sort` parameter as given (or the list's default), which cursors carry.
    pub sort: String,
    pub column: C,
    pub desc: bool,
    pub id: C,
    pub kind: Kind,
    /// Whether the sort column may be NULL.
    pub nullable: bool,
    /// A row's sort value and id.
    pub position: fn(&M, C) -> (serde_json::Value, String),
}

/// Where a list's total is cached: under `key` in `totals`, valid while no `changes` event was
/// appended since it was counted.
pub struct TotalOf<'a> {
    pub totals: &'a Totals,
    pub key: String,
    pub changes: &'a [EventType],
}

/// One page of `select`: the total, then the rows after the cursor `after` or at the page's
/// offset, in `order`, with the next page's cursor.
pub async fn fetch<E, C>(
    db: &impl ConnectionTrait,
    mut select: Select<E>,
    total_of: TotalOf<'_>,
    order: &Order<C, E::Model>,
    page: PageParams,
    after_cursor: Option<&str>,
) -> Result<Listed<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    C: ColumnTrait + Copy,
{
    let TotalOf {
        totals,
        key,
        changes,
    } = total_of;
    let version = log::last_of(db, changes).await?;
    let total = match totals.get(&key, version) {
        Some(total) => total,
        None => {
            let total = select.clone().count(db).await?;
            totals.put(key, version, total);
            total
        }
    };
    let mut offset = page.offset();
    if let Some(raw) = after_cursor {
        let cursor = Cursor::decode(raw, &order.sort)?;
        let value = cursor_value(order.kind, &cursor.value)?;
        select = select.filter(after(
            db.get_database_backend(),
            order.column,
            order.id,
            order.desc,
            order.nullable,
            value,
            &cursor.id,
        ));
        offset = 0;
    }
    let dir = if order.desc {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let items = select
        .order_by(order.column, dir.clone())
        // Ties (equal timestamps, shared roles) still page deterministically.
        .order_by(order.id, dir)
        .offset(offset)
        .limit(page.per_page + 1)
        .all(db)
        .await?;
    let column = order.column;
    let position = order.position;
    Ok(finish_page(items, page.per_page, total, &order.sort, |m| {
        position(m, column)
    }))
}

/// Fetches `per_page + 1` rows to know whether there is a next page, and makes its cursor from
/// the last row kept.
fn finish_page<T>(
    mut items: Vec<T>,
    per_page: u64,
    total: u64,
    sort: &str,
    position: impl Fn(&T) -> (serde_json::Value, String),
) -> Listed<T> {
    let more = items.len() as u64 > per_page;
    items.truncate(usize::try_from(per_page).unwrap_or(usize::MAX));
    let next = more.then(|| items.last()).flatten().map(|last| {
        let (value, id) = position(last);
        Cursor {
            sort: sort.to_owned(),
            value,
            id,
        }
        .encode()
    });
    Listed { items, total, next }
}

fn value_is_null(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_none(),
        Value::BigInt(n) => n.is_none(),
        Value::Bool(b) => b.is_none(),
        Value::ChronoDateTimeUtc(t) => t.is_none(),
        _ => false,
    }
}

/// Totals of list queries, each valid while the log's last seq of the list's topic is the one it
/// was counted at (every change to the listed rows is an event of that topic, on any
/// instance), so a total is exact and costs a count only after a change.
#[derive(Default)]
pub struct Totals(Mutex<HashMap<String, (i64, u64)>>);

/// Entries kept at most; past it the cache starts over.
const MAX_TOTALS: usize = 1024;

impl Totals {
    pub fn get(&self, key: &str, version: i64) -> Option<u64> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).filter(|(v, _)| *v == version).map(|(_, n)| *n)
    }

    pub fn put(&self, key: String, version: i64, total: u64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_TOTALS && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, (version, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds() {
        assert!(PageParams::parse(Some(0), None).is_err());
        assert!(PageParams::parse(None, Some(201)).is_err());
        assert!(PageParams::parse(None, Some(0)).is_err());
        assert!(PageParams::parse(Some(u64::MAX), Some(200)).is_err());
        assert!(PageParams::parse(Some((1 << 62) + 1), Some(2)).is_err());
        let last = PageParams::parse(Some(1 << 62), Some(2)).expect("offset 2^63 - 2 fits");
        assert_eq!(last.offset(), (1 << 63) - 2);
        let p = PageParams::parse(Some(3), Some(20)).expect("valid");
        assert_eq!(p.offset(), 40);
    }

    #[test]
    fn sort_and_pattern() {
        let allowed = [("a", 1), ("b", 2)];
        assert_eq!(parse_sort(Some("-b"), &allowed, 1).ok(), Some((2, true)));
        assert_eq!(parse_sort(None, &allowed, 1).ok(), Some((1, false)));
        assert!(parse_sort(Some("c"), &allowed, 1).is_err());
        assert_eq!(contains_pattern("A_b%"), "%a\\_b\\%%");
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let c = Cursor {
            sort: "-created_at".into(),
            value: serde_json::json!("2026-12-01T10:00:00.123456Z"),
            id: "01a2".into(),
        };
        let raw = c.encode();
        assert_eq!(Cursor::decode(&raw, "-created_at").ok(), Some(c));
        assert!(Cursor::decode(&raw, "created_at").is_err());
        assert!(Cursor::decode("not base64!", "x").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(b"[1]"), "x").is_err());
    }

    #[test]
    fn totals_are_valid_for_one_version() {
        let t = Totals::default();
        t.put("q=a".into(), 7, 42);
        assert_eq!(t.get("q=a", 7), Some(42));
        assert_eq!(t.get("q=a", 8), None);
        assert_eq!(t.get("q=b", 7), None);
    }
}
