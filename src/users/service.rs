//! User rules and persistence: the only code that reads or writes the `users` table.

use std::collections::HashSet;

use chrono::{SubsecRound, Utc};
use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};

pub use super::model::{ImportedUser, NewUser, UserChanges};
use super::{
    Role,
    dto::User,
    validate::{self, Problems},
};
use crate::{
    auth::{
        password::PasswordHasher,
        sessions::{self, Principal, RevokeReason},
    },
    error::{Error, Result},
    pagination::{
        self, Kind, Listed, Order, PageParams, TotalOf, Totals, contains_pattern, parse_sort,
        time_json,
    },
    realtime::event::{Actor, EventType, Revoke},
    write::{Write, Writer},
};

/// Filters and paging of `GET /api/users`.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub sort: Option<String>,
    /// A cursor from a previous page's `next`: the page starts after it (and `page` is 1).
    pub after: Option<String>,
}

const SORTABLE: &[(&str, user::Column)] = &[
    ("username", user::Column::Username),
    ("email", user::Column::EmailLower),
    ("display_name", user::Column::DisplayName),
    ("role", user::Column::Role),
    ("created_at", user::Column::CreatedAt),
    ("updated_at", user::Column::UpdatedAt),
    ("last_login_at", user::Column::LastLoginAt),
];

/// The events after which the users' totals may differ.
pub const CHANGES: &[EventType] = &[
    EventType::UserCreated,
    EventType::UserUpdated,
    EventType::UserDeleted,
];

/// Shortest search served by the trigram index; shorter ones scan.
const MIN_INDEXED_QUERY: usize = 3;

/// A page of users. `q` is a case-insensitive substring of the username, email or display
/// name, served by a trigram index when it has at least three characters (FTS5 on SQLite,
/// `pg_trgm` on PostgreSQL); the total is counted once per change of the users (`totals`);
/// `after` continues from a cursor in index order, so a deep page costs what the first does.
pub async fn list(
    db: &impl ConnectionTrait,
    totals: &Totals,
    query: &ListQuery,
    page: PageParams,
) -> Result<Listed<user::Model>> {
    let sort_name = query.sort.as_deref().map(str::trim).unwrap_or_default();
    let (column, desc) = parse_sort(query.sort.as_deref(), SORTABLE, user::Column::Username)?;
    let select = filtered(db.get_database_backend(), query)?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let key = format!(
        "q={:?} role={:?} disabled={:?}",
        q, query.role, query.disabled
    );
    let order = Order {
        sort: sort_name.to_owned(),
        column,
        desc,
        id: user::Column::Id,
        kind: kind_of(column),
        nullable: matches!(
            column,
            user::Column::DisplayName | user::Column::LastLoginAt
        ),
        position: |u: &user::Model, c| (sort_value(u, c), u.id.clone()),
    };
    pagination::fetch(
        db,
        select,
        TotalOf {
            totals,
            key,
            changes: CHANGES,
        },
        &order,
        page,
        query.after.as_deref(),
    )
    .await
}

/// The users matching the list filters `q`, `role` and `disabled`.
fn filtered(backend: DbBackend, query: &ListQuery) -> Result<sea_orm::Select<user::Entity>> {
    let mut select = user::Entity::find();
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        select = select.filter(search(backend, q));
    }
    if let Some(role) = query.role.as_deref() {
        let role: Role = role
            .parse()
            .map_err(|_| Error::BadRequest("role must be 'admin' or 'viewer'".into()))?;
        select = select.filter(user::Column::Role.eq(role.as_str()));
    }
    if let Some(disabled) = query.disabled {
        select = select.filter(user::Column::Disabled.eq(disabled));
    }
    Ok(select)
}

/// The next `limit` users matching the list filters after id `after`, in id order: an export
/// walks the primary key batch by batch, so its memory stays flat however many users there are.
pub async fn export_batch(
    db: &impl ConnectionTrait,
    query: &ListQuery,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<user::Model>> {
    let mut select = filtered(db.get_database_backend(), query)?;
    if let Some(id) = after {
        select = select.filter(user::Column::Id.gt(id));
    }
    Ok(select
        .order_by_asc(user::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The search condition: the trigram index where the query is long enough, else a scan with
/// the same meaning.
fn search(backend: DbBackend, q: &str) -> Condition {
    if backend == DbBackend::Sqlite && q.chars().count() >= MIN_INDEXED_QUERY {
        // One FTS5 phrase: with the trigram tokenizer it matches the text as a substring of
        // any column, case-insensitively.
        let phrase = format!("\"{}\"", q.replace('"', "\"\""));
        return Condition::all().add(Expr::cust_with_values(
            "\"users\".\"rowid\" IN (SELECT rowid FROM users_search WHERE users_search MATCH ?)",
            [phrase],
        ));
    }
    // On PostgreSQL these are served by the `pg_trgm` indexes on the same expressions.
    let pattern = contains_pattern(q);
    let like = |col: user::Column| {
        Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    Condition::any()
        .add(like(user::Column::Username))
        .add(Expr::col(user::Column::EmailLower).like(LikeExpr::new(pattern.clone()).escape('\\')))
        .add(like(user::Column::DisplayName))
}

/// The sort value of a row, as a cursor carries it.
fn sort_value(m: &user::Model, column: user::Column) -> serde_json::Value {
    use serde_json::Value as J;
    match column {
        user::Column::Username => J::String(m.username.clone()),
        user::Column::EmailLower => J::String(m.email_lower.clone()),
        user::Column::DisplayName => m.display_name.clone().map_or(J::Null, J::String),
        user::Column::Role => J::String(m.role.clone()),
        user::Column::CreatedAt => time_json(&m.created_at),
        user::Column::UpdatedAt => time_json(&m.updated_at),
        user::Column::LastLoginAt => m.last_login_at.as_ref().map_or(J::Null, time_json),
        _ => J::Null,
    }
}

fn kind_of(column: user::Column) -> Kind {
    match column {
        user::Column::CreatedAt | user::Column::UpdatedAt | user::Column::LastLoginAt => Kind::Time,
        _ => Kind::Text,
    }
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("user"))
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

/// Validates and creates a user.
pub async fn create(
    writer: &Writer,
    hasher: &PasswordHasher,
    actor: Option<&Principal>,
    req: NewUser,
) -> Result<user::Model> {
    let role = check_new(&req)?;
    // Hash before taking the writer lock: hashing is the slow part.
    let password_hash = hasher.hash(req.password.clone()).await?;
    let mut w = writer.begin().await?;
    let actor = actor.map(Actor::from);
    let model = insert_in(&mut w, actor.as_ref(), req, role, password_hash).await?;
    w.commit().await?;
    Ok(model)
}

/// The field rules of a new user, every problem at once; the role it will have.
pub fn check_new(req: &NewUser) -> Result<Role> {
    let mut problems = Problems::default();
    problems.add("username", validate::username(&req.username));
    problems.add("email", validate::email(&req.email));
    problems.add("password", validate::password(&req.password));
    if let Some(d) = &req.display_name {
        problems.add("display_name", validate::display_name(d));
    }
    let role = validate::role(&req.role, &mut problems);
    problems.into_result()?;
    role.ok_or_else(|| Error::Internal("role validated but missing".into()))
}

/// Inserts a user checked by [`check_new`] inside `w`, with its `user.created` event (an
/// accepted invitation creates its user in the same transaction that spends the invitation).
pub async fn insert_in(
    w: &mut Write<'_>,
    actor: Option<&Actor>,
    req: NewUser,
    role: Role,
    password_hash: String,
) -> Result<user::Model> {
    ensure_unique(&**w, None, Some(&req.username), Some(&req.email)).await?;
    let row = new_row(
        req.username,
        req.email,
        req.display_name.filter(|d| !d.trim().is_empty()),
        role,
        password_hash,
    );
    let model = row.insert(&**w).await.map_err(unique_violation)?;
    w.event(
        EventType::UserCreated,
        actor,
        User::from(model.clone()).to_json(),
    );
    Ok(model)
}

/// Rows per statement of the batch lookups and inserts (12 columns: 6,000 parameters, within
/// both backends' limits).
const BATCH_ROWS: usize = 500;

/// Which of `usernames` and of `emails` (compared case-insensitively, as `ensure_unique` does)
/// existing users already have: the usernames as given and the addresses lower-cased. A
/// statement per 500 values, not one per row.
pub async fn existing(
    db: &impl ConnectionTrait,
    usernames: &[&str],
    emails: &[&str],
) -> Result<(HashSet<String>, HashSet<String>)> {
    let mut taken_names = HashSet::new();
    for chunk in usernames.chunks(BATCH_ROWS) {
        let found: Vec<String> = user::Entity::find()
            .select_only()
            .column(user::Column::Username)
            .filter(user::Column::Username.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        taken_names.extend(found);
    }
    let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
    let mut taken_emails = HashSet::new();
    for chunk in lower.chunks(BATCH_ROWS) {
        taken_emails.extend(existing_emails(db, chunk).await?);
    }
    Ok((taken_names, taken_emails))
}

/// The addresses of `lower` that users have. Not `email_lower IN (…)`: PostgreSQL plans that as
/// a bitmap scan of the trigram index (`pg_trgm` serves `=` too), which costs seconds per batch
/// once the index's pending list has grown during an import; a join with the values is served
/// by the unique index (or a hash join).
async fn existing_emails(db: &impl ConnectionTrait, lower: &[String]) -> Result<Vec<String>> {
    if lower.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let values: Vec<String> = (1..=lower.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("(${i})"),
            _ => "(?)".to_owned(),
        })
        .collect();
    let sql = format!(
        "WITH wanted(email) AS (VALUES {}) \
         SELECT users.email_lower FROM users JOIN wanted ON users.email_lower = wanted.email",
        values.join(", ")
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            lower.iter().map(|e| e.as_str().into()),
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<std::result::Result<_, _>>()?)
}

/// What [`insert_batch`] did.
#[derive(Debug)]
pub enum BatchOutcome {
    /// Every row was created, in one transaction, each with its `user.created`.
    Created(Vec<User>),
    /// Nothing was created: these rows' username or address belongs to an existing user by now.
    Taken(Vec<TakenRow>),
}

/// A row of a batch whose username and/or address is taken.
#[derive(Debug)]
pub struct TakenRow {
    /// Its index in the batch.
    pub index: usize,
    pub username: bool,
    pub email: bool,
}

/// Times a batch is retried after losing a race on the unique indexes; the retry's check then
/// sees the winner (a unique violation is raised only once the other insert committed).
const BATCH_ATTEMPTS: usize = 5;

/// Inserts every row in one transaction with one `user.created` each (actor: the importer), or
/// none of them if any username or address is taken — checked inside the transaction, so the
/// caller learns which rows lost to a user created since its own check. A concurrent create
/// that still wins the unique index rolls the batch back and the check runs again.
pub async fn insert_batch(
    writer: &Writer,
    actor: &Actor,
    rows: &[ImportedUser],
) -> Result<BatchOutcome> {
    if rows.is_empty() {
        return Ok(BatchOutcome::Created(Vec::new()));
    }
    let usernames: Vec<&str> = rows.iter().map(|r| r.username.as_str()).collect();
    let emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
    for _ in 0..BATCH_ATTEMPTS {
        let mut w = writer.begin().await?;
        let (names, addresses) = existing(&*w, &usernames, &emails).await?;
        let taken: Vec<TakenRow> = rows
            .iter()
            .enumerate()
            .map(|(index, r)| TakenRow {
                index,
                username: names.contains(&r.username),
                email: addresses.contains(&r.email.to_lowercase()),
            })
            .filter(|t| t.username || t.email)
            .collect();
        if !taken.is_empty() {
            return Ok(BatchOutcome::Taken(taken));
        }
        // Microseconds: what PostgreSQL keeps, so the events show what a GET will.
        let now = Utc::now().trunc_subsecs(6);
        let mut created = Vec::with_capacity(rows.len());
        let mut lost_race = false;
        for chunk in rows.chunks(BATCH_ROWS) {
            let mut models = Vec::with_capacity(chunk.len());
            for r in chunk {
                let display_name = r.display_name.clone().filter(|d| !d.trim().is_empty());
                let mut row = new_row(
                    r.username.clone(),
                    r.email.clone(),
                    display_name.clone(),
                    r.role,
                    r.password_hash.clone(),
                );
                let id = uuid::Uuid::now_v7().to_string();
                row.id = Set(id.clone());
                row.disabled = Set(r.disabled);
                row.created_at = Set(now);
                row.updated_at = Set(now);
                created.push(User {
                    id,
                    username: r.username.clone(),
                    email: r.email.clone(),
                    display_name,
                    role: r.role.as_str().to_owned(),
                    disabled: r.disabled,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    last_login_at: None,
                });
                models.push(row);
            }
            match user::Entity::insert_many(models)
                .exec_without_returning(&*w)
                .await
            {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
                {
                    lost_race = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if lost_race {
            // Dropping `w` rolls the batch back; the next round's check names the rows.
            continue;
        }
        for u in &created {
            w.event(EventType::UserCreated, Some(actor), u.to_json());
        }
        w.commit().await?;
        return Ok(BatchOutcome::Created(created));
    }
    Err(Error::conflict(
        "username_taken",
        "users were being created concurrently with the same names; try the import again",
    ))
}

/// Replaces a stored hash that just verified with a stronger one of the same password (bcrypt or
/// an older argon2 → argon2id, at login). Not an edit: no version, no event, no session ends.
/// Only if the hash is still `old`, so a password changed meanwhile is never overwritten.
pub async fn upgrade_password_hash(
    writer: &Writer,
    id: &str,
    old: &str,
    new: String,
) -> Result<bool> {
    let w = writer.begin().await?;
    let updated = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::PasswordHash.eq(old))
        .exec(&*w)
        .await?;
    w.commit().await?;
    Ok(updated.rows_affected == 1)
}

/// Whether an enabled or disabled user already has this address (case-insensitive).
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::EmailLower.eq(email.to_lowercase()))
        .one(db)
        .await?)
}

fn new_row(
    username: String,
    email: String,
    display_name: Option<String>,
    role: Role,
    password_hash: String,
) -> user::ActiveModel {
    let now = Utc::now();
    user::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        username: Set(username),
        email_lower: Set(email.to_lowercase()),
        email: Set(email),
        display_name: Set(display_name),
        role: Set(role.as_str().to_owned()),
        disabled: Set(false),
        password_hash: Set(password_hash),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    }
}

/// Creates the first admin when there are no users at all; `None` if there already are some
/// (or another instance, starting at the same moment, created it first: the unique index
/// decides). The admin and its `user.created` commit together, so a start that dies in between
/// leaves no admin and the next start creates it again. The password is the operator's choice
/// and is not held to the length rule.
pub async fn create_first_admin(
    writer: &Writer,
    hasher: &PasswordHasher,
    username: &str,
    password: String,
) -> Result<Option<user::Model>> {
    if user::Entity::find().count(writer.db().conn()).await? > 0 {
        return Ok(None);
    }
    let hash = hasher.hash(password).await?;
    let mut w = writer.begin().await?;
    let email = format!("{username}@switchboard.local");
    let row = new_row(
        username.to_owned(),
        email,
        Some("Administrator".into()),
        Role::Admin,
        hash,
    );
    let model = match row.insert(&*w).await {
        Ok(model) => model,
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    w.event(
        EventType::UserCreated,
        None,
        User::from(model.clone()).to_json(),
    );
    w.commit().await?;
    Ok(Some(model))
}

/// Records a successful login on the user row, inside the login's transaction. Bookkeeping, not
/// an edit: the version stays.
pub async fn record_login(w: &Write<'_>, user: user::Model) -> Result<user::Model> {
    let mut active = user.into_active_model();
    active.last_login_at = Set(Some(Utc::now()));
    Ok(active.update(&**w).await?)
}

/// Applies a partial update. `if_match` is the version the client last saw.
pub async fn update(
    writer: &Writer,
    hasher: &PasswordHasher,
    actor: &Principal,
    id: &str,
    req: UserChanges,
    if_match: Option<i64>,
) -> Result<user::Model> {
    let mut problems = Problems::default();
    if let Some(u) = &req.username {
        problems.add("username", validate::username(u));
    }
    if let Some(e) = &req.email {
        problems.add("email", validate::email(e));
    }
    if let Some(p) = &req.password {
        problems.add("password", validate::password(p));
    }
    if let Some(Some(d)) = &req.display_name {
        problems.add("display_name", validate::display_name(d));
    }
    let new_role = match &req.role {
        Some(r) => validate::role(r, &mut problems),
        None => None,
    };
    problems.into_result()?;

    let password_hash = match req.password {
        Some(p) => Some(hasher.hash(p).await?),
        None => None,
    };

    let mut w = writer.begin().await?;
    let admins = if req.role.is_some() || req.disabled.is_some() {
        Some(lock_enabled_admins(&*w).await?)
    } else {
        None
    };
    let current = user::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&*w)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(Error::VersionMismatch {
            current: User::from(current).to_json(),
        });
    }

    let role = new_role.map_or(current.role.clone(), |r| r.as_str().to_owned());
    let disabled = req.disabled.unwrap_or(current.disabled);
    let display_name = match req.display_name {
        None => current.display_name.clone(),
        Some(None) => None,
        Some(Some(d)) => Some(d).filter(|d| !d.trim().is_empty()),
    };
    let username = req.username.unwrap_or_else(|| current.username.clone());
    let email = req.email.unwrap_or_else(|| current.email.clone());

    let demoted = current.role == Role::Admin.as_str() && role != Role::Admin.as_str();
    let disabling = disabled && !current.disabled;
    guard_admin_loss(
        actor,
        &current,
        admins.as_deref(),
        demoted || (disabling && current.role == Role::Admin.as_str()),
        demoted || disabling,
    )?;

    let username_changed = username != current.username;
    let email_changed = email.to_lowercase() != current.email_lower;
    ensure_unique(
        &*w,
        Some(id),
        username_changed.then_some(username.as_str()),
        email_changed.then_some(email.as_str()),
    )
    .await?;

    let unchanged = !username_changed
        && email == current.email
        && display_name == current.display_name
        && role == current.role
        && disabled == current.disabled
        && password_hash.is_none();
    if unchanged {
        return Ok(current);
    }

    let version = current.version + 1;
    let old_role = current.role.clone();
    let mut active = current.into_active_model();
    active.username = Set(username);
    active.email_lower = Set(email.to_lowercase());
    active.email = Set(email);
    active.display_name = Set(display_name);
    active.role = Set(role);
    active.disabled = Set(disabled);
    if let Some(hash) = &password_hash {
        active.password_hash = Set(hash.clone());
    }
    active.version = Set(version);
    active.updated_at = Set(Utc::now());
    let updated = active.update(&*w).await.map_err(unique_violation)?;

    let reason = if disabling {
        Some(RevokeReason::Disabled)
    } else if demoted {
        Some(RevokeReason::Demoted)
    } else if password_hash.is_some() {
        Some(RevokeReason::PasswordChanged)
    } else {
        None
    };
    if let Some(reason) = reason {
        sessions::revoke_all_for_user(&*w, &updated.id, reason).await?;
        w.revoke(Revoke::User(updated.id.clone()));
    }
    let by = Actor::from(actor);
    if old_role != updated.role {
        // The audit trail names role changes explicitly, before the new state.
        w.event(
            EventType::UserRoleChanged,
            Some(&by),
            serde_json::json!({"id": updated.id, "username": updated.username,
                               "from": old_role, "to": updated.role}),
        );
    }
    w.event(
        EventType::UserUpdated,
        Some(&by),
        User::from(updated.clone()).to_json(),
    );
    // Role and name live in cached principals too, so any change drops them.
    w.forget_user(&updated.id);
    w.commit().await?;
    Ok(updated)
}

pub async fn delete(writer: &Writer, actor: &Principal, id: &str) -> Result<()> {
    let mut w = writer.begin().await?;
    let admins = lock_enabled_admins(&*w).await?;
    let current = user::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&*w)
        .await?
        .ok_or(Error::NotFound("user"))?;
    guard_admin_loss(
        actor,
        &current,
        Some(&admins),
        current.role == Role::Admin.as_str(),
        true,
    )?;
    // Sessions go with the row (ON DELETE CASCADE), so its tokens stop working at once.
    user::Entity::delete_by_id(id).exec(&*w).await?;
    w.event(
        EventType::UserDeleted,
        Some(&Actor::from(actor)),
        serde_json::json!({"id": id}),
    );
    w.revoke(Revoke::User(id.to_owned()));
    w.commit().await?;
    Ok(())
}

/// Whose password [`set_password`] sets.
pub enum PasswordOf<'a> {
    /// By username (the CLI).
    Username(&'a str),
    /// The caller's own, after they proved the current one (`POST /api/auth/password`).
    Own(&'a Principal),
}

/// Sets a password and ends every session of the user (this one included). The one path for a
/// password change on its own; `update` changes it together with other fields.
pub async fn set_password(
    writer: &Writer,
    hasher: &PasswordHasher,
    whose: PasswordOf<'_>,
    field: &str,
    password: String,
) -> Result<user::Model> {
    if let Some(problem) = validate::password(&password) {
        return Err(Error::field(field, problem));
    }
    let hash = hasher.hash(password).await?;
    let mut w = writer.begin().await?;
    // Read under lock: an admin may have changed the user meanwhile.
    let (current, actor) = match whose {
        PasswordOf::Username(username) => {
            let found = user::Entity::find()
                .filter(user::Column::Username.eq(username))
                .lock_exclusive()
                .one(&*w)
                .await?;
            (found, None)
        }
        PasswordOf::Own(p) => {
            let found = user::Entity::find_by_id(&p.user_id)
                .lock_exclusive()
                .one(&*w)
                .await?;
            (found, Some(Actor::from(p)))
        }
    };
    let current = current.ok_or(Error::NotFound("user"))?;
    let updated = replace_password_in(&mut w, current, hash, actor.as_ref()).await?;
    w.commit().await?;
    Ok(updated)
}

/// Sets an already hashed password on a user read under lock inside `w`, ends every session of
/// theirs and records `user.updated` (a password reset spends its link in the same transaction).
pub async fn replace_password_in(
    w: &mut Write<'_>,
    current: user::Model,
    password_hash: String,
    actor: Option<&Actor>,
) -> Result<user::Model> {
    let version = current.version + 1;
    let mut active = current.into_active_model();
    active.password_hash = Set(password_hash);
    active.version = Set(version);
    active.updated_at = Set(Utc::now());
    let updated = active.update(&**w).await?;
    sessions::revoke_all_for_user(&**w, &updated.id, RevokeReason::PasswordChanged).await?;
    w.event(
        EventType::UserUpdated,
        actor,
        User::from(updated.clone()).to_json(),
    );
    w.revoke(Revoke::User(updated.id.clone()));
    Ok(updated)
}

/// A user read under lock inside a write (before changing something that depends on them).
pub async fn lock(w: &Write<'_>, id: &str) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&**w)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// Locks the enabled admins' rows, in id order, before any other row (PostgreSQL; SQLite
/// writers are already serialised). Every write that may remove an admin takes these locks first
/// and in the same order, so concurrent demotions queue instead of deadlocking, and the second
/// one sees the first one's result.
async fn lock_enabled_admins(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(Role::Admin.as_str()))
        .filter(user::Column::Disabled.eq(false))
        .order_by_asc(user::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .all(db)
        .await?)
}

/// Refuses a change that would lock the actor out or leave no enabled admin.
/// `loses_admin`: the target stops being an enabled admin; `self_harm`: the change would be a
/// lockout if the target is the actor (delete, demote, disable). `admins`: the enabled admins,
/// locked by [`lock_enabled_admins`] (present whenever `loses_admin` can be true).
fn guard_admin_loss(
    actor: &Principal,
    target: &user::Model,
    admins: Option<&[String]>,
    loses_admin: bool,
    self_harm: bool,
) -> Result<()> {
    if self_harm && target.id == actor.user_id {
        return Err(Error::conflict(
            "self_lockout",
            "you cannot delete, demote or disable your own account",
        ));
    }
    if loses_admin
        && !target.disabled
        && admins.is_some_and(|a| a.iter().all(|id| *id == target.id))
    {
        return Err(Error::conflict(
            "last_admin",
            "this is the last enabled admin; promote or enable another admin first",
        ));
    }
    Ok(())
}

async fn ensure_unique(
    db: &impl ConnectionTrait,
    except_id: Option<&str>,
    username: Option<&str>,
    email: Option<&str>,
) -> Result<()> {
    let not_self = |mut cond: Condition| {
        if let Some(id) = except_id {
            cond = cond.add(user::Column::Id.ne(id));
        }
        cond
    };
    if let Some(u) = username {
        let taken = user::Entity::find()
            .filter(not_self(Condition::all().add(user::Column::Username.eq(u))))
            .count(db)
            .await?;
        if taken > 0 {
            return Err(Error::conflict(
                "username_taken",
                format!("username '{u}' is already taken"),
            ));
        }
    }
    if let Some(e) = email {
        let taken = user::Entity::find()
            .filter(not_self(
                Condition::all().add(user::Column::EmailLower.eq(e.to_lowercase())),
            ))
            .count(db)
            .await?;
        if taken > 0 {
            return Err(Error::conflict(
                "email_taken",
                "that email address is already in use",
            ));
        }
    }
    Ok(())
}

/// A concurrent insert can still hit the unique index: answer 409, not 500.
fn unique_violation(err: sea_orm::DbErr) -> Error {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains("email") => {
            Error::conflict("email_taken", "that email address is already in use")
        }
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict("username_taken", "that username is already taken")
        }
        _ => Error::Db(err),
    }
}
