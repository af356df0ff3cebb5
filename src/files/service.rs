//! File and share-link rules and persistence: the only code that writes `files` and
//! `share_links`. Every change records its durable event in the same transaction.

use chrono::{DateTime, Utc};
use entity::{file, share_link};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use serde_json::json;

use super::{
    dto::File,
    naming,
    slots::{self, SlotGuard},
};
use crate::{
    auth::sessions::Principal,
    error::{Error, Result},
    pagination::{
        self, Kind, Listed, Order, PageParams, TotalOf, Totals, contains_pattern, parse_sort,
        time_json,
    },
    realtime::event::{Actor, EventType},
    storage::Storage,
    write::{Write, Writer},
};

/// A file whose bytes are already durable under `storage_key`, ready to get its row.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub storage_key: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<i64>,
}

/// Options a client may set at upload or import time; checked by [`validate_limits`].
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<i64>,
}

/// `expires_at` must be in the future and `max_downloads` at least 1.
pub fn validate_limits(limits: &Limits) -> Result<()> {
    let mut problems = std::collections::BTreeMap::new();
    if limits.expires_at.is_some_and(|e| e <= Utc::now()) {
        problems.insert("expires_at".into(), "must be in the future".into());
    }
    if limits.max_downloads.is_some_and(|m| m < 1) {
        problems.insert("max_downloads".into(), "must be at least 1".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(problems))
    }
}

/// Sanitises a client-supplied name; 422 on `field` when nothing usable is left.
pub fn clean_name(raw: &str, field: &str) -> Result<String> {
    naming::sanitize(raw).ok_or_else(|| Error::field(field, "must be a non-empty file name"))
}

/// Filters and paging of `GET /api/files`.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    /// Only files this user uploaded.
    pub uploaded_by: Option<String>,
    pub sort: Option<String>,
    /// A cursor from a previous page's `next`.
    pub after: Option<String>,
}

const SORTABLE: &[(&str, file::Column)] = &[
    ("name", file::Column::NameLower),
    ("size", file::Column::Size),
    ("content_type", file::Column::ContentType),
    ("created_at", file::Column::CreatedAt),
    ("updated_at", file::Column::UpdatedAt),
    ("download_count", file::Column::DownloadCount),
    ("expires_at", file::Column::ExpiresAt),
];

/// The events after which the files' totals may differ (a rename changes what `q` matches).
pub const CHANGES: &[EventType] = &[
    EventType::FileCreated,
    EventType::FileUpdated,
    EventType::FileDeleted,
];

/// A page of files; like the users list (an indexed substring search of names from three
/// characters, totals counted once per change, keyset cursors).
pub async fn list(
    db: &impl ConnectionTrait,
    totals: &Totals,
    query: &ListQuery,
    page: PageParams,
) -> Result<Listed<file::Model>> {
    let sort = query
        .sort
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("-created_at");
    let (column, desc) = parse_sort(Some(sort), SORTABLE, file::Column::CreatedAt)?;
    let backend = db.get_database_backend();
    let mut select = file::Entity::find();
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if let Some(q) = q {
        select = select.filter(if backend == DbBackend::Sqlite && q.chars().count() >= 3 {
            let phrase = format!("\"{}\"", q.replace('"', "\"\""));
            Expr::cust_with_values(
                "\"files\".\"rowid\" IN (SELECT rowid FROM files_search WHERE files_search MATCH ?)",
                [phrase],
            )
        } else {
            // On PostgreSQL served by the `pg_trgm` index on `name_lower`.
            Expr::col(file::Column::NameLower).like(LikeExpr::new(contains_pattern(q)).escape('\\'))
        });
    }
    if let Some(uid) = &query.uploaded_by {
        // Served by `files_uploaded_by_idx` (uploader, created_at, id) for the default sort.
        select = select.filter(file::Column::UploadedBy.eq(uid.as_str()));
    }
    let order = Order {
        sort: sort.to_owned(),
        column,
        desc,
        id: file::Column::Id,
        kind: kind_of(column),
        nullable: matches!(column, file::Column::ExpiresAt),
        position: |f: &file::Model, c| (sort_value(f, c), f.id.clone()),
    };
    pagination::fetch(
        db,
        select,
        TotalOf {
            totals,
            key: format!("q={q:?} by={:?}", query.uploaded_by),
            changes: CHANGES,
        },
        &order,
        page,
        query.after.as_deref(),
    )
    .await
}

fn sort_value(f: &file::Model, column: file::Column) -> serde_json::Value {
    use serde_json::Value as J;
    match column {
        file::Column::NameLower => J::String(f.name_lower.clone()),
        file::Column::Size => J::from(f.size),
        file::Column::ContentType => J::String(f.content_type.clone()),
        file::Column::CreatedAt => time_json(&f.created_at),
        file::Column::UpdatedAt => time_json(&f.updated_at),
        file::Column::DownloadCount => J::from(f.download_count),
        file::Column::ExpiresAt => f.expires_at.as_ref().map_or(J::Null, time_json),
        _ => J::Null,
    }
}

fn kind_of(column: file::Column) -> Kind {
    match column {
        file::Column::Size | file::Column::DownloadCount => Kind::Int,
        file::Column::CreatedAt | file::Column::UpdatedAt | file::Column::ExpiresAt => Kind::Time,
        _ => Kind::Text,
    }
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<file::Model> {
    file::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("file"))
}

/// The files with these ids, in the order given (one query); any unknown id is a 404.
pub async fn get_many(db: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<file::Model>> {
    let mut found: std::collections::HashMap<String, file::Model> = file::Entity::find()
        .filter(file::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await?
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    ids.iter()
        .map(|id| found.remove(id).ok_or(Error::NotFound("file")))
        .collect()
}

/// Inserts the row of a file whose bytes are durable, with its `file.created` event, inside
/// the caller's write.
pub async fn insert(
    w: &mut Write<'_>,
    actor: Option<&Principal>,
    new: NewFile,
) -> Result<file::Model> {
    let now = Utc::now();
    let model = file::ActiveModel {
        id: Set(new.id),
        name_lower: Set(new.name.to_lowercase()),
        name: Set(new.name),
        size: Set(i64::try_from(new.size).unwrap_or(i64::MAX)),
        content_type: Set(new.content_type),
        sha256: Set(new.sha256),
        storage_key: Set(new.storage_key),
        uploaded_by: Set(actor.map(|a| a.user_id.clone())),
        created_at: Set(now),
        updated_at: Set(now),
        download_count: Set(0),
        expires_at: Set(new.expires_at),
        max_downloads: Set(new.max_downloads),
        version: Set(1),
    }
    .insert(&**w)
    .await?;
    w.event(
        EventType::FileCreated,
        actor.map(Actor::from).as_ref(),
        File::from(model.clone()).to_json(),
    );
    Ok(model)
}

/// Creates the row of an uploaded file (bytes already published under `storage_key`). If the
/// row cannot be written, the bytes are deleted again.
pub async fn create(
    writer: &Writer,
    storage: &Storage,
    actor: Option<&Principal>,
    new: NewFile,
) -> Result<file::Model> {
    let key = new.storage_key.clone();
    let created = async {
        let mut w = writer.begin().await?;
        let model = insert(&mut w, actor, new).await?;
        w.commit().await?;
        Ok::<_, Error>(model)
    }
    .await;
    if created.is_err() {
        let _ = storage.delete(&key).await;
    }
    created
}

/// A partial update of a file's metadata. `None` keeps a field; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct FileChanges {
    pub name: Option<String>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub max_downloads: Option<Option<i64>>,
}

pub async fn update(
    writer: &Writer,
    actor: &Principal,
    id: &str,
    changes: FileChanges,
    if_match: Option<i64>,
) -> Result<file::Model> {
    let name = changes
        .name
        .as_deref()
        .map(|n| clean_name(n, "name"))
        .transpose()?;
    validate_limits(&Limits {
        expires_at: changes.expires_at.flatten(),
        max_downloads: changes.max_downloads.flatten(),
    })?;
    let mut w = writer.begin().await?;
    let current = file::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&*w)
        .await?
        .ok_or(Error::NotFound("file"))?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(Error::VersionMismatch {
            current: File::from(current).to_json(),
        });
    }
    let version = current.version + 1;
    let mut row = current.into_active_model();
    if let Some(name) = name {
        row.name_lower = Set(name.to_lowercase());
        row.name = Set(name);
    }
    if let Some(e) = changes.expires_at {
        row.expires_at = Set(e);
    }
    if let Some(m) = changes.max_downloads {
        row.max_downloads = Set(m);
    }
    row.version = Set(version);
    row.updated_at = Set(Utc::now());
    let model = row.update(&*w).await?;
    w.event(
        EventType::FileUpdated,
        Some(&Actor::from(actor)),
        File::from(model.clone()).to_json(),
    );
    w.commit().await?;
    Ok(model)
}

/// Deletes the row (its links go with it), then the bytes. A crash between the two leaves an
/// orphan object, which the sweeper removes.
pub async fn delete(
    writer: &Writer,
    storage: &Storage,
    actor: Option<&Principal>,
    id: &str,
) -> Result<()> {
    let mut w = writer.begin().await?;
    let current = file::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&*w)
        .await?
        .ok_or(Error::NotFound("file"))?;
    share_link::Entity::delete_many()
        .filter(share_link::Column::FileId.eq(id))
        .exec(&*w)
        .await?;
    file::Entity::delete_by_id(id).exec(&*w).await?;
    w.event(
        EventType::FileDeleted,
        actor.map(Actor::from).as_ref(),
        json!({"id": id}),
    );
    w.commit().await?;
    if let Err(e) = storage.delete(&current.storage_key).await {
        tracing::warn!(error = %e, key = %current.storage_key, "could not delete stored bytes");
    }
    Ok(())
}

// ---- share links ----

pub fn new_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn create_link(
    writer: &Writer,
    actor: &Principal,
    file_id: &str,
    limits: Limits,
) -> Result<share_link::Model> {
    validate_limits(&limits)?;
    let w = writer.begin().await?;
    file::Entity::find_by_id(file_id)
        .one(&*w)
        .await?
        .ok_or(Error::NotFound("file"))?;
    let link = share_link::ActiveModel {
        token: Set(new_token()),
        file_id: Set(file_id.to_owned()),
        created_by: Set(Some(actor.user_id.clone())),
        created_at: Set(Utc::now()),
        expires_at: Set(limits.expires_at),
        max_downloads: Set(limits.max_downloads),
        download_count: Set(0),
    }
    .insert(&*w)
    .await?;
    w.commit().await?;
    Ok(link)
}

pub async fn list_links(
    db: &impl ConnectionTrait,
    file_id: &str,
    page: PageParams,
) -> Result<(Vec<share_link::Model>, u64)> {
    get(db, file_id).await?;
    let select = share_link::Entity::find().filter(share_link::Column::FileId.eq(file_id));
    let total = select.clone().count(db).await?;
    let items = select
        .order_by_desc(share_link::Column::CreatedAt)
        .order_by_desc(share_link::Column::Token)
        .offset(page.offset())
        .limit(page.per_page)
        .all(db)
        .await?;
    Ok((items, total))
}

pub async fn delete_link(writer: &Writer, token: &str) -> Result<()> {
    let w = writer.begin().await?;
    let res = share_link::Entity::delete_by_id(token).exec(&*w).await?;
    w.commit().await?;
    if res.rows_affected == 0 {
        return Err(Error::NotFound("link"));
    }
    Ok(())
}

pub async fn find_link(db: &impl ConnectionTrait, token: &str) -> Result<share_link::Model> {
    share_link::Entity::find_by_id(token)
        .one(db)
        .await?
        .ok_or(Error::Gone(
            "this link has expired, reached its download limit or was deleted",
        ))
}

// ---- counting ----

/// One download that sent its last byte.
pub struct CompletedDownload<'a> {
    pub download_id: &'a str,
    pub file_id: &'a str,
    pub link_token: Option<&'a str>,
    pub via: &'static str,
    pub bytes: u64,
    pub duration_ms: u64,
    pub actor: Option<&'a Principal>,
    /// The download's slot, released with the count.
    pub slot: Option<&'a SlotGuard>,
}

/// Counts a download: the file's and the link's counters go up in one transaction, each only if
/// still under its limit and not expired, with `download.completed` and `file.updated`.
/// `Ok(None)` means a limit or expiry won the race: the download must not complete.
pub async fn count_download(
    writer: &Writer,
    done: CompletedDownload<'_>,
) -> Result<Option<file::Model>> {
    Ok(count_downloads(writer, std::slice::from_ref(&done))
        .await?
        .and_then(|mut counted| counted.pop()))
}

/// Counts several downloads that complete together (the files of one ZIP bundle) in one
/// transaction: all of them, or none when any limit or expiry won the race (`Ok(None)`).
/// Rows are taken in file-id order, so two such transactions never wait on each other in a
/// cycle. The models come back in that order.
pub async fn count_downloads(
    writer: &Writer,
    done: &[CompletedDownload<'_>],
) -> Result<Option<Vec<file::Model>>> {
    let now = Utc::now();
    let mut ordered: Vec<&CompletedDownload<'_>> = done.iter().collect();
    ordered.sort_by_key(|d| d.file_id);
    let mut w = writer.begin().await?;
    let mut counted = Vec::with_capacity(done.len());
    for d in ordered {
        match count_in(&mut w, d, now).await? {
            Some(model) => counted.push(model),
            // Dropping `w` rolls back the ones already counted.
            None => return Ok(None),
        }
    }
    w.commit().await?;
    for d in done {
        slots::released(d.slot);
    }
    Ok(Some(counted))
}

async fn count_in(
    w: &mut Write<'_>,
    done: &CompletedDownload<'_>,
    now: DateTime<Utc>,
) -> Result<Option<file::Model>> {
    let bumped = file::Entity::update_many()
        .col_expr(
            file::Column::DownloadCount,
            Expr::col(file::Column::DownloadCount).add(1),
        )
        .filter(file::Column::Id.eq(done.file_id))
        .filter(under_limit(
            file::Column::MaxDownloads,
            file::Column::DownloadCount,
            file::Column::ExpiresAt,
            now,
        ))
        .exec(&**w)
        .await?;
    if bumped.rows_affected == 0 {
        return Ok(None);
    }
    if let Some(token) = done.link_token {
        let bumped = share_link::Entity::update_many()
            .col_expr(
                share_link::Column::DownloadCount,
                Expr::col(share_link::Column::DownloadCount).add(1),
            )
            .filter(share_link::Column::Token.eq(token))
            .filter(share_link::Column::FileId.eq(done.file_id))
            .filter(under_limit(
                share_link::Column::MaxDownloads,
                share_link::Column::DownloadCount,
                share_link::Column::ExpiresAt,
                now,
            ))
            .exec(&**w)
            .await?;
        if bumped.rows_affected == 0 {
            return Ok(None);
        }
    }
    let model = get(&**w, done.file_id).await?;
    let actor = done.actor.map(Actor::from);
    w.event(
        EventType::DownloadCompleted,
        actor.as_ref(),
        json!({"download_id": done.download_id, "file_id": done.file_id, "via": done.via,
               "bytes": done.bytes, "duration_ms": done.duration_ms,
               "download_count": model.download_count}),
    );
    w.event(
        EventType::FileUpdated,
        actor.as_ref(),
        File::from(model.clone()).to_json(),
    );
    // In this transaction, so no taker sees the slot free before the count is raised.
    slots::release_in(&**w, done.slot).await?;
    Ok(Some(model))
}

fn under_limit<C: ColumnTrait>(max: C, count: C, expires: C, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(
            Condition::any()
                .add(max.is_null())
                .add(Expr::col(count).lt(Expr::col(max))),
        )
        .add(Condition::any().add(expires.is_null()).add(expires.gt(now)))
}

// ---- sweeping ----

/// Deletes expired files (with their bytes and a `file.deleted` event each) and expired or
/// exhausted links, and stored objects that have no row (left by a crash between publishing
/// bytes and committing the row, or between deleting a row and its bytes).
pub async fn sweep(writer: &Writer, storage: &Storage) -> Result<(usize, u64)> {
    let now = Utc::now();
    let expired: Vec<String> = file::Entity::find()
        .filter(file::Column::ExpiresAt.lte(now))
        .select_only()
        .column(file::Column::Id)
        .limit(500)
        .into_tuple()
        .all(writer.db().conn())
        .await?;
    for id in &expired {
        match delete(writer, storage, None, id).await {
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let w = writer.begin().await?;
    let links = share_link::Entity::delete_many()
        .filter(
            Condition::any()
                .add(share_link::Column::ExpiresAt.lte(now))
                .add(
                    Expr::col(share_link::Column::DownloadCount)
                        .gte(Expr::col(share_link::Column::MaxDownloads)),
                ),
        )
        .exec(&*w)
        .await?;
    w.commit().await?;
    sweep_orphans(writer.db().conn(), storage).await?;
    Ok((expired.len(), links.rows_affected))
}

/// Objects older than an hour without a row are leftovers; younger ones may be an upload
/// between publishing and committing on some instance.
async fn sweep_orphans(db: &impl ConnectionTrait, storage: &Storage) -> Result<()> {
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    let old = storage.objects_older_than(cutoff).await?;
    // Nearly every stored object is old: ask which of them have rows a batch at a time, not
    // one query per object.
    for batch in old.chunks(500) {
        let known: std::collections::HashSet<String> = file::Entity::find()
            .filter(file::Column::StorageKey.is_in(batch.iter().map(String::as_str)))
            .select_only()
            .column(file::Column::StorageKey)
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        for key in batch.iter().filter(|k| !known.contains(*k)) {
            tracing::info!(%key, "deleting stored object without a file row");
            storage.delete(key).await?;
        }
    }
    Ok(())
}

/// Runs [`sweep`] every `interval`.
pub fn spawn_sweeper(writer: Writer, storage: Storage, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            match sweep(&writer, &storage).await {
                Ok((0, 0)) => {}
                Ok((files, links)) => tracing::info!(files, links, "expired files swept"),
                Err(e) => tracing::warn!(error = %e, "file sweep failed"),
            }
        }
    });
}
