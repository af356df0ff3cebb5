//! Resumable uploads: the only code that writes `uploads` and `upload_parts`.
//!
//! Each PATCH is staged into a temp file (hashed on the way), published as one part object
//! `uploads/<id>/<offset>-<uuid>`, and committed with a compare-and-swap of the upload's offset,
//! so of two PATCHes at the same offset exactly one lands. When the offset reaches the length,
//! the parts are assembled into the file's object and the file row is inserted in the same
//! transaction that marks the upload finished; an upload left complete but unfinished by a
//! crash is finished by its next HEAD or PATCH (the file id is fixed at creation).

use std::io;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use entity::{upload, upload_part};
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use poem::Body;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use serde_json::json;

use super::tus::{self, Checksum};
use crate::{
    auth::sessions::Principal,
    error::{Error, Result},
    files::{
        naming,
        service::{self as files, NewFile},
        transfer::Transfer,
        upload::{Fields, too_large},
    },
    pagination::PageParams,
    realtime::event::{Actor, EventType},
    storage::Storage,
    write::Writer,
};

/// Bytes of the file read back for content sniffing.
const SNIFF_BYTES: u64 = 8 * 1024;
/// A single part up to this size becomes the file by a copy (S3's single-copy limit).
const COPY_MAX: u64 = 5 << 30;
/// Part objects without an upload row are left alone this long: they may belong to a PATCH
/// between publishing its part and committing it.
const ORPHAN_GRACE: chrono::Duration = chrono::Duration::hours(1);
/// A refused request's body is read and dropped up to this size, so the client sees the answer
/// rather than a reset connection.
const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
const PREFIX: &str = "uploads";

/// The uploads service: cheap to clone (a PATCH runs on its own task, see [`Uploads::append`]).
#[derive(Clone)]
pub struct Uploads {
    writer: Writer,
    storage: Storage,
    max_bytes: u64,
    expiry: chrono::Duration,
}

/// What POST asks for.
pub struct NewUpload<'a> {
    pub length: Option<&'a str>,
    pub defer_length: bool,
    pub metadata: Option<&'a str>,
    /// `Content-Length` of data sent with the creation, if any.
    pub data_length: Option<u64>,
}

/// One request's bytes for an upload.
pub struct Chunk {
    pub offset: Option<String>,
    pub checksum: Option<String>,
    pub content_length: Option<u64>,
    pub body: Option<Body>,
}

/// Where an upload stands, for the response headers.
#[derive(Debug, Clone)]
pub struct Status {
    pub offset: u64,
    pub length: u64,
    pub metadata: String,
    /// When an unfinished upload is swept; `None` once it is a file.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once the upload is a file.
    pub file_id: Option<String>,
}

/// The outcome of a PATCH that was not refused outright.
pub enum Appended {
    Stored(Status),
    /// `Upload-Checksum` did not match the body: nothing was kept (tus status 460).
    ChecksumMismatch,
}

impl Status {
    pub fn of(u: &upload::Model) -> Self {
        let finished = u.finished_at.is_some();
        Self {
            offset: to_u64(u.upload_offset),
            length: to_u64(u.upload_length),
            metadata: u.metadata.clone(),
            expires_at: (!finished).then_some(u.expires_at),
            file_id: finished.then(|| u.file_id.clone()),
        }
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn prefix_of(id: &str) -> String {
    format!("{PREFIX}/{id}")
}

impl Uploads {
    pub fn new(
        writer: Writer,
        storage: Storage,
        max_bytes: u64,
        expiry: std::time::Duration,
    ) -> Self {
        Self {
            writer,
            storage,
            max_bytes,
            expiry: chrono::Duration::from_std(expiry).unwrap_or(chrono::Duration::days(1)),
        }
    }

    /// POST: validates the length and metadata and inserts the row (the file id is chosen now).
    pub async fn create(&self, actor: &Principal, new: NewUpload<'_>) -> Result<upload::Model> {
        if new.defer_length {
            return Err(Error::BadRequest(
                "Upload-Defer-Length is not supported: send Upload-Length".into(),
            ));
        }
        let length: u64 = new
            .length
            .ok_or_else(|| Error::BadRequest("Upload-Length is required".into()))?
            .trim()
            .parse()
            .map_err(|_| {
                Error::BadRequest("Upload-Length must be a non-negative integer".into())
            })?;
        if length > self.max_bytes {
            return Err(too_large(self.max_bytes));
        }
        if new.data_length.is_some_and(|n| n > length) {
            return Err(Error::PayloadTooLarge(
                "the request carries more bytes than Upload-Length".into(),
            ));
        }
        let raw = new.metadata.unwrap_or_default().trim().to_owned();
        let meta = tus::parse_metadata(&raw)?;
        let value = |k: &str| meta.get(k).cloned().flatten();
        let filename = value("filename")
            .ok_or_else(|| Error::field("filename", "Upload-Metadata must carry a filename"))?;
        let name = files::clean_name(&filename, "filename")?;
        let limits = Fields {
            name: None,
            expires_at: value("expires_at"),
            max_downloads: value("max_downloads"),
        }
        .limits()?;
        files::validate_limits(&limits)?;
        let now = Utc::now();
        let w = self.writer.begin().await?;
        let row = upload::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            file_id: Set(uuid::Uuid::now_v7().to_string()),
            name: Set(name),
            content_type: Set(value("filetype").filter(|t| !t.trim().is_empty())),
            metadata: Set(raw),
            file_expires_at: Set(limits.expires_at),
            max_downloads: Set(limits.max_downloads),
            upload_length: Set(to_i64(length)),
            upload_offset: Set(0),
            created_by: Set(actor.user_id.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            expires_at: Set(now + self.expiry),
            finished_at: Set(None),
        }
        .insert(&*w)
        .await?;
        w.commit().await?;
        Ok(row)
    }

    async fn load(&self, id: &str) -> Result<upload::Model> {
        upload::Entity::find_by_id(id)
            .one(self.writer.db().conn())
            .await?
            .ok_or(Error::NotFound("upload"))
    }

    /// HEAD: where the upload stands. A complete upload that a crash left unfinished becomes
    /// its file now.
    pub async fn status(&self, actor: &Principal, id: &str) -> Result<Status> {
        let u = self.load(id).await?;
        if u.finished_at.is_none() && u.expires_at <= Utc::now() {
            return Err(Error::Gone("this upload has expired"));
        }
        if u.finished_at.is_none() && u.upload_offset == u.upload_length {
            self.finish(&u, Some(actor)).await?;
            return Ok(Status::of(&self.load(id).await?));
        }
        Ok(Status::of(&u))
    }

    /// PATCH. Runs on its own task so that a client going away mid-body cannot cancel it: the
    /// bytes received so far are still committed (unless a checksum was asked for) and the
    /// client resumes from there.
    pub async fn append(&self, actor: Principal, id: String, chunk: Chunk) -> Result<Appended> {
        let this = self.clone();
        tokio::spawn(async move { this.append_now(&actor, &id, chunk).await })
            .await
            .map_err(|e| Error::Internal(format!("upload task failed: {e}")))?
    }

    async fn append_now(&self, actor: &Principal, id: &str, chunk: Chunk) -> Result<Appended> {
        let refused = |e: Error, body: Option<Body>, declared: Option<u64>| async move {
            drain(body, declared).await;
            Err(e)
        };
        let Chunk {
            offset,
            checksum,
            content_length,
            body,
        } = chunk;
        let claimed: u64 = match offset.as_deref().map(|o| o.trim().parse()) {
            Some(Ok(o)) => o,
            Some(Err(_)) => {
                let e = Error::BadRequest("Upload-Offset must be a non-negative integer".into());
                return refused(e, body, content_length).await;
            }
            None => {
                let e = Error::BadRequest("Upload-Offset is required".into());
                return refused(e, body, content_length).await;
            }
        };
        let checksum = match checksum.as_deref().map(Checksum::parse).transpose() {
            Ok(c) => c,
            Err(e) => return refused(e, body, content_length).await,
        };
        let u = match self.load(id).await {
            Ok(u) => u,
            Err(e) => return refused(e, body, content_length).await,
        };
        let offset = to_u64(u.upload_offset);
        let length = to_u64(u.upload_length);
        if u.finished_at.is_none() && u.expires_at <= Utc::now() {
            return refused(Error::Gone("this upload has expired"), body, content_length).await;
        }
        if claimed != offset {
            let e = Error::conflict(
                "offset_mismatch",
                format!("Upload-Offset is {claimed} but the upload is at {offset}"),
            );
            return refused(e, body, content_length).await;
        }
        let remaining = length.saturating_sub(offset);
        if content_length.is_some_and(|n| n > remaining) {
            let e = Error::PayloadTooLarge(format!(
                "the upload has {remaining} bytes left; this request carries more"
            ));
            return refused(e, body, content_length).await;
        }
        if u.finished_at.is_some() {
            // A retried final PATCH: nothing left to store.
            drain(body, content_length).await;
            return Ok(Appended::Stored(Status::of(&u)));
        }
        if offset == length {
            drain(body, content_length).await;
            self.finish(&u, Some(actor)).await?;
            return Ok(Appended::Stored(Status::of(&self.load(id).await?)));
        }
        let Some(body) = body else {
            return Ok(Appended::Stored(Status::of(&u)));
        };

        let mut transfer = Transfer::upload_from(
            self.writer.realtime(),
            u.id.clone(),
            &u.file_id,
            Some(&u.name),
            Some(Actor::from(actor)),
            Some(length),
            offset,
        );
        let mut writer = self.storage.temp_writer();
        let mut extra = checksum.as_ref().and_then(Checksum::extra_hasher);
        let mut received = 0u64;
        let mut interrupted = false;
        let mut stream = std::pin::pin!(body.into_bytes_stream());
        while let Some(next) = stream.next().await {
            let bytes: Bytes = match next {
                Ok(b) => b,
                Err(e) => {
                    tracing::info!(upload = %u.id, error = %e, received, "upload body ended early");
                    interrupted = true;
                    break;
                }
            };
            received += bytes.len() as u64;
            if received > remaining {
                transfer.pause(offset);
                return Err(Error::PayloadTooLarge(format!(
                    "the upload has {remaining} bytes left; this request carried more"
                )));
            }
            if let Some(h) = extra.as_mut() {
                sha1::Digest::update(h, &bytes);
            }
            let n = bytes.len() as u64;
            if let Err(e) = writer.write(bytes).await {
                transfer.pause(offset);
                return Err(e);
            }
            transfer.advance(n);
        }
        // A body shorter than its Content-Length also means the client went away.
        interrupted |= content_length.is_some_and(|n| received < n);
        if interrupted && checksum.is_some() {
            // The checksum covers the whole body: a part of it cannot be verified.
            transfer.pause(offset);
            return Err(Error::BadRequest(
                "the body ended early; with Upload-Checksum nothing was kept".into(),
            ));
        }
        if received == 0 {
            transfer.pause(offset);
            return Ok(Appended::Stored(Status::of(&u)));
        }
        let staged = match writer.finish().await {
            Ok(s) => s,
            Err(e) => {
                transfer.pause(offset);
                return Err(e);
            }
        };
        if let Some(c) = &checksum
            && !c.matches(&staged.sha256, extra)
        {
            transfer.pause(offset);
            return Ok(Appended::ChecksumMismatch);
        }
        let new_offset = offset + staged.size;
        let key = format!(
            "{}/{offset:020}-{}",
            prefix_of(&u.id),
            uuid::Uuid::new_v4().simple()
        );
        let part = upload_part::ActiveModel {
            upload_id: Set(u.id.clone()),
            part_offset: Set(to_i64(offset)),
            size: Set(to_i64(staged.size)),
            sha256: Set(staged.sha256.clone()),
            storage_key: Set(key.clone()),
        };
        if let Err(e) = self.storage.publish(staged, &key).await {
            transfer.pause(offset);
            return Err(e);
        }
        match self.commit_part(&u.id, offset, new_offset, part).await {
            Ok(true) => {}
            Ok(false) => {
                // Another PATCH (or a termination) got there first; its events tell the story.
                transfer.finish();
                self.delete_object(&key).await;
                return Err(Error::conflict(
                    "offset_mismatch",
                    format!("the upload moved past offset {offset} while this request ran"),
                ));
            }
            Err(e) => {
                transfer.pause(offset);
                self.delete_object(&key).await;
                return Err(e);
            }
        }
        let u = self.load(id).await?;
        if new_offset < length {
            transfer.pause(new_offset);
            return Ok(Appended::Stored(Status::of(&u)));
        }
        match self.finish(&u, Some(actor)).await {
            Ok(()) => transfer.finish(),
            Err(e) => {
                // Every byte is stored; the next HEAD or PATCH finishes it.
                transfer.pause(new_offset);
                return Err(e);
            }
        }
        Ok(Appended::Stored(Status::of(&self.load(id).await?)))
    }

    /// Moves the offset from `from` to `to` and records the part, only if the upload is still
    /// unfinished at `from`. `false`: someone else moved it.
    async fn commit_part(
        &self,
        id: &str,
        from: u64,
        to: u64,
        part: upload_part::ActiveModel,
    ) -> Result<bool> {
        let now = Utc::now();
        let w = self.writer.begin().await?;
        let moved = upload::Entity::update_many()
            .col_expr(upload::Column::UploadOffset, Expr::value(to_i64(to)))
            .col_expr(upload::Column::UpdatedAt, Expr::value(now))
            .col_expr(upload::Column::ExpiresAt, Expr::value(now + self.expiry))
            .filter(upload::Column::Id.eq(id))
            .filter(upload::Column::UploadOffset.eq(to_i64(from)))
            .filter(upload::Column::FinishedAt.is_null())
            .exec(&*w)
            .await?;
        if moved.rows_affected == 0 {
            return Ok(false);
        }
        part.insert(&*w).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Turns a complete upload into its file: assemble the parts under the file's key, then in
    /// one transaction insert the file row (with `file.created`) and mark the upload finished.
    /// Safe to run again after a crash, or concurrently: the file id is fixed and only the
    /// transaction that still finds the upload unfinished inserts the row.
    async fn finish(&self, u: &upload::Model, actor: Option<&Principal>) -> Result<()> {
        let parts = upload_part::Entity::find()
            .filter(upload_part::Column::UploadId.eq(u.id.as_str()))
            .order_by_asc(upload_part::Column::PartOffset)
            .all(self.writer.db().conn())
            .await?;
        let mut expected = 0i64;
        for p in &parts {
            if p.part_offset != expected {
                return Err(Error::Internal(format!(
                    "upload {}: part at {} where {expected} was expected",
                    u.id, p.part_offset
                )));
            }
            expected += p.size;
        }
        if expected != u.upload_length {
            return Err(Error::Internal(format!(
                "upload {}: parts hold {expected} of {} bytes",
                u.id, u.upload_length
            )));
        }
        let stored: std::collections::HashMap<String, u64> = self
            .storage
            .list(&prefix_of(&u.id))
            .await?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        if let Some(p) = parts
            .iter()
            .find(|p| stored.get(&p.storage_key) != Some(&to_u64(p.size)))
        {
            return Err(Error::Internal(format!(
                "upload {}: part object {} is missing or has the wrong size",
                u.id, p.storage_key
            )));
        }

        let target = Storage::key_for(&u.file_id);
        let length = to_u64(u.upload_length);
        let sha256 = match parts.as_slice() {
            [single] if to_u64(single.size) <= COPY_MAX => {
                self.storage.copy(&single.storage_key, &target).await?;
                single.sha256.clone()
            }
            [] => {
                let staged = self.storage.temp_writer().finish().await?;
                let sha = staged.sha256.clone();
                self.storage.publish(staged, &target).await?;
                sha
            }
            _ => {
                let storage = self.storage.clone();
                // One part open at a time, each read as the put consumes it.
                let body = futures_util::stream::iter(parts.clone())
                    .then(move |p| open_part(storage.clone(), p).boxed())
                    .try_flatten()
                    .boxed();
                let (size, sha) = self.storage.put_stream(&target, body).await?;
                if size != length {
                    self.delete_object(&target).await;
                    return Err(Error::Internal(format!(
                        "upload {}: assembled {size} of {length} bytes",
                        u.id
                    )));
                }
                sha
            }
        };

        let mut head = Vec::new();
        let mut read = self
            .storage
            .open(&target, 0..length.min(SNIFF_BYTES))
            .await?;
        while let Some(b) = read.next().await {
            head.extend_from_slice(&b?);
        }
        let new = NewFile {
            id: u.file_id.clone(),
            name: u.name.clone(),
            content_type: naming::content_type(u.content_type.as_deref(), &head, &u.name),
            size: length,
            sha256,
            storage_key: target.clone(),
            expires_at: u.file_expires_at,
            max_downloads: u.max_downloads,
        };
        let committed = async {
            let mut w = self.writer.begin().await?;
            let still_open = upload::Entity::find_by_id(u.id.as_str())
                .filter(upload::Column::FinishedAt.is_null())
                .lock_exclusive()
                .one(&*w)
                .await?;
            if still_open.is_none() {
                // Finished (or terminated) by someone else meanwhile.
                return Ok::<bool, Error>(false);
            }
            files::insert(&mut w, actor, new).await?;
            upload_part::Entity::delete_many()
                .filter(upload_part::Column::UploadId.eq(u.id.as_str()))
                .exec(&*w)
                .await?;
            let now = Utc::now();
            upload::Entity::update_many()
                .col_expr(upload::Column::FinishedAt, Expr::value(now))
                .col_expr(upload::Column::UpdatedAt, Expr::value(now))
                .col_expr(upload::Column::ExpiresAt, Expr::value(now + self.expiry))
                .filter(upload::Column::Id.eq(u.id.as_str()))
                .exec(&*w)
                .await?;
            w.commit().await?;
            Ok(true)
        }
        .await;
        if !matches!(committed, Ok(true)) {
            // Only the finisher whose transaction inserted the row keeps the object; if the
            // row exists, another one did.
            if files::get(self.writer.db().conn(), &u.file_id)
                .await
                .is_err()
            {
                self.delete_object(&target).await;
                committed?;
                return Err(Error::NotFound("upload"));
            }
        }
        if let Err(e) = self.storage.delete_prefix(&prefix_of(&u.id)).await {
            tracing::warn!(upload = %u.id, error = %e, "could not delete upload parts");
        }
        Ok(())
    }

    /// DELETE (tus termination): the row and its parts go; an unfinished upload announces
    /// `upload.aborted`. A finished upload's file is not touched.
    pub async fn terminate(&self, actor: &Principal, id: &str) -> Result<()> {
        let u = self.load(id).await?;
        if self.remove(&u.id, None).await? && u.finished_at.is_none() {
            self.announce_aborted(&u, Some(&Actor::from(actor)), "cancelled");
        }
        Ok(())
    }

    /// Deletes the row (parts cascade) — only if still expired at `expired_by`, when given —
    /// then the part objects. `false`: it was already gone (or was renewed).
    async fn remove(&self, id: &str, expired_by: Option<DateTime<Utc>>) -> Result<bool> {
        let w = self.writer.begin().await?;
        upload_part::Entity::delete_many()
            .filter(upload_part::Column::UploadId.eq(id))
            .exec(&*w)
            .await?;
        let mut delete = upload::Entity::delete_many().filter(upload::Column::Id.eq(id));
        if let Some(now) = expired_by {
            delete = delete.filter(upload::Column::ExpiresAt.lte(now));
        }
        let gone = delete.exec(&*w).await?.rows_affected > 0;
        if !gone {
            return Ok(false);
        }
        w.commit().await?;
        if let Err(e) = self.storage.delete_prefix(&prefix_of(id)).await {
            tracing::warn!(upload = %id, error = %e, "could not delete upload parts");
        }
        Ok(true)
    }

    /// Deletes an upload whose creation request failed, without announcing anything.
    pub async fn discard(&self, id: &str) {
        if let Err(e) = self.remove(id, None).await {
            tracing::warn!(upload = %id, error = %e, "could not delete a rejected upload");
        }
    }

    fn announce_aborted(&self, u: &upload::Model, actor: Option<&Actor>, reason: &str) {
        self.writer.realtime().publish(
            EventType::UploadAborted,
            actor,
            &json!({"upload_id": u.id, "file_id": u.file_id,
                    "bytes_sent": u.upload_offset, "bytes_total": u.upload_length,
                    "reason": reason}),
        );
    }

    async fn delete_object(&self, key: &str) {
        if let Err(e) = self.storage.delete(key).await {
            tracing::warn!(%key, error = %e, "could not delete an upload object");
        }
    }

    /// Unfinished uploads, newest first: the caller's, or everyone's for an admin.
    pub async fn list(
        &self,
        actor: &Principal,
        page: PageParams,
    ) -> Result<(Vec<upload::Model>, u64)> {
        let db = self.writer.db().conn();
        let mut select = upload::Entity::find().filter(upload::Column::FinishedAt.is_null());
        if !actor.is_admin() {
            select = select.filter(upload::Column::CreatedBy.eq(actor.user_id.as_str()));
        }
        let total = select.clone().count(db).await?;
        let items = select
            .order_by_desc(upload::Column::CreatedAt)
            .order_by_desc(upload::Column::Id)
            .offset(page.offset())
            .limit(page.per_page)
            .all(db)
            .await?;
        Ok((items, total))
    }

    /// Deletes expired uploads with their parts (`upload.aborted`, reason `expired`, for
    /// unfinished ones), then part objects whose upload row is gone. Returns how many uploads.
    pub async fn sweep(&self) -> Result<usize> {
        let now = Utc::now();
        let expired = upload::Entity::find()
            .filter(upload::Column::ExpiresAt.lte(now))
            .limit(500)
            .all(self.writer.db().conn())
            .await?;
        let mut swept = 0;
        for u in &expired {
            if self.remove(&u.id, Some(now)).await? {
                swept += 1;
                if u.finished_at.is_none() {
                    self.announce_aborted(u, None, "expired");
                }
            }
        }
        self.sweep_orphans(self.writer.db().conn()).await?;
        Ok(swept)
    }

    async fn sweep_orphans(&self, db: &impl ConnectionTrait) -> Result<()> {
        let cutoff = Utc::now() - ORPHAN_GRACE;
        let mut newest: std::collections::BTreeMap<String, DateTime<Utc>> = Default::default();
        for o in self.storage.list(PREFIX).await? {
            let Some(id) = o.key.split('/').nth(1) else {
                continue;
            };
            let t = newest.entry(id.to_owned()).or_insert(o.last_modified);
            *t = (*t).max(o.last_modified);
        }
        for (id, last) in newest {
            if last >= cutoff {
                continue;
            }
            let known = upload::Entity::find_by_id(id.as_str()).count(db).await?;
            if known == 0 {
                tracing::info!(upload = %id, "deleting upload parts without an upload row");
                self.storage.delete_prefix(&prefix_of(&id)).await?;
            }
        }
        Ok(())
    }
}

async fn open_part(
    storage: Storage,
    part: upload_part::Model,
) -> io::Result<futures_util::stream::BoxStream<'static, io::Result<Bytes>>> {
    storage
        .open(&part.storage_key, 0..to_u64(part.size))
        .await
        .map_err(io::Error::other)
}

/// Reads and drops a refused request's body (bounded), so the client can read the answer.
async fn drain(body: Option<Body>, declared: Option<u64>) {
    let Some(body) = body else { return };
    if declared.is_some_and(|n| n > DRAIN_MAX_BYTES) {
        return;
    }
    let mut reader = body.into_async_read();
    let _ = tokio::time::timeout(
        DRAIN_TIME,
        tokio::io::copy(
            &mut tokio::io::AsyncReadExt::take(&mut reader, DRAIN_MAX_BYTES),
            &mut tokio::io::sink(),
        ),
    )
    .await;
}

/// Runs [`Uploads::sweep`] every `interval`.
pub fn spawn_sweeper(uploads: Uploads, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            match uploads.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "expired uploads swept"),
                Err(e) => tracing::warn!(error = %e, "upload sweep failed"),
            }
        }
    });
}

/// The URL of an upload (the tus `Location`).
pub fn location(id: &str) -> String {
    format!("/api/uploads/{id}")
}
