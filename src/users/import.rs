//! `POST /api/users/import` (docs/API.md §4.4): users in bulk from CSV or JSON Lines.
//!
//! The file is read whole (at most [`MAX_BODY_BYTES`]), parsed and checked off the runtime —
//! every rule of `validate`, duplicates inside the file, then users that exist, in batched
//! lookups — so the report lists every problem of every row. Plaintext passwords are then hashed
//! (as many at once as the hasher has threads) and the rows go to `service::insert_batch`: one
//! transaction for `all_or_nothing`, batches of [`WRITE_BATCH`] for `skip_invalid`. The work
//! runs on its own task, so a client that goes away cannot stop it half-way, and reports
//! progress as ephemeral `import.*` events.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use super::{
    Role,
    dto::{ImportBody, UserImportError, UserImportReport},
    export::Format,
    service::{self, BatchOutcome, ImportedUser},
    validate::{self, Problem},
};
use crate::{
    auth::{
        password::{self, NO_PASSWORD, PasswordHasher},
        sessions::Principal,
    },
    error::{Error, Result},
    realtime::{
        Realtime,
        event::{Actor, EventType},
    },
    write::Writer,
};

/// Largest import file: about half a million rows with hashes.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Past the limit, up to this much more is read and dropped before the 413, so a client still
/// sending reads the answer instead of a reset.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);
/// Rows per transaction in `skip_invalid` mode.
const WRITE_BATCH: usize = 500;
/// `import.progress` at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Error entries listed in a report at most (the counts stay exact): bounds the answer for a
/// file of garbage.
pub const MAX_LISTED_ERRORS: usize = 100_000;

/// What to do when some rows have problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Any problem: nothing is created. Otherwise every row in one transaction.
    AllOrNothing,
    /// Rows with problems are skipped, the others created.
    SkipInvalid,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::AllOrNothing => "all_or_nothing",
            Self::SkipInvalid => "skip_invalid",
        }
    }
}

/// The query parameters of an import.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: Format,
    pub dry_run: bool,
    pub mode: Mode,
}

impl Options {
    /// `format` `csv` (default) or `jsonl`, `dry_run` (default false), `mode` `all_or_nothing`
    /// (default) or `skip_invalid`; anything else is a 400.
    pub fn parse(format: Option<&str>, dry_run: Option<bool>, mode: Option<&str>) -> Result<Self> {
        let mode = match mode.unwrap_or("all_or_nothing") {
            "all_or_nothing" => Mode::AllOrNothing,
            "skip_invalid" => Mode::SkipInvalid,
            _ => {
                return Err(Error::BadRequest(
                    "mode must be all_or_nothing or skip_invalid".into(),
                ));
            }
        };
        Ok(Self {
            format: Format::parse(format)?,
            dry_run: dry_run.unwrap_or(false),
            mode,
        })
    }
}

/// Reads, checks and imports the file; the report of docs/API.md §4.4.
pub async fn run(
    writer: &Writer,
    hasher: &PasswordHasher,
    actor: &Principal,
    options: Options,
    body: ImportBody,
) -> Result<UserImportReport> {
    let bytes = read_body(body).await?;
    let rows = tokio::task::spawn_blocking(move || parse(options.format, &bytes))
        .await
        .map_err(|e| Error::Internal(format!("import parser failed: {e}")))??;
    // From here on the import exists: it gets an id, events, and runs to the end even if the
    // client goes away.
    let job = Job {
        writer: writer.clone(),
        hasher: hasher.clone(),
        progress: Progress::start(
            writer.realtime().clone(),
            Actor::from(actor),
            options,
            &rows,
        ),
        options,
    };
    tokio::spawn(job.run(rows))
        .await
        .map_err(|e| Error::Internal(format!("import task failed: {e}")))?
}

/// The body, whole, under [`MAX_BODY_BYTES`]; a larger one is a 413.
async fn read_body(body: ImportBody) -> Result<Bytes> {
    let too_large = || {
        Error::PayloadTooLarge(format!(
            "an import file may be at most {} MiB",
            MAX_BODY_BYTES >> 20
        ))
    };
    if body
        .content_length
        .is_some_and(|n| n > MAX_BODY_BYTES as u64 + DRAIN_BYTES)
    {
        return Err(too_large());
    }
    let declared = body.content_length.unwrap_or(0) as usize;
    let mut buf = BytesMut::with_capacity(declared.min(8 << 20));
    let mut chunks = body.body.into_bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| Error::BadRequest(format!("reading the body failed: {e}")))?;
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            let mut dropped = (buf.len() + chunk.len() - MAX_BODY_BYTES) as u64;
            let _ = tokio::time::timeout(DRAIN_TIME, async {
                while dropped <= DRAIN_BYTES {
                    match chunks.next().await {
                        Some(Ok(c)) => dropped += c.len() as u64,
                        _ => break,
                    }
                }
            })
            .await;
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

// ---------------------------------------------------------------------------------------------
// Parsing: the file into rows of optional fields
// ---------------------------------------------------------------------------------------------

/// The fields an import reads, in report order; any other column or key is ignored.
const FIELDS: [&str; 7] = [
    "username",
    "email",
    "display_name",
    "role",
    "disabled",
    "password",
    "password_hash",
];

fn field_rank(field: Option<&str>) -> usize {
    field
        .and_then(|f| FIELDS.iter().position(|k| *k == f))
        .unwrap_or(0)
}

/// One problem of one row.
#[derive(Debug, Clone)]
struct RowError {
    field: Option<&'static str>,
    code: &'static str,
    message: String,
}

impl RowError {
    fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            code,
            message: message.into(),
        }
    }

    fn of(field: &'static str, p: Problem) -> Self {
        Self::new(field, p.code, format!("{field} {}", p.message))
    }
}

/// A row as read: its line, the known fields present (empty values count as absent), and the
/// problems reading it found.
#[derive(Debug, Default)]
struct RawRow {
    line: u64,
    /// By index into [`FIELDS`].
    values: [Option<String>; 7],
    errors: Vec<RowError>,
    /// A JSON value of the wrong type, already reported (so not also `required`).
    mistyped: [bool; 7],
    /// The line is not JSON, or not an object: its only problem.
    not_an_object: bool,
}

impl RawRow {
    fn take(&mut self, field: &str) -> Option<String> {
        let i = FIELDS.iter().position(|f| *f == field)?;
        self.values[i].take()
    }
}

/// The rows of the file; a 400 for a file that cannot be read at all.
fn parse(format: Format, bytes: &[u8]) -> Result<Vec<RawRow>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::BadRequest(format!("the file is not UTF-8 text: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Csv => parse_csv(text),
        Format::Jsonl => Ok(parse_jsonl(text)),
    }
}

fn parse_csv(text: &str) -> Result<Vec<RawRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let unreadable = |e: csv::Error| Error::BadRequest(format!("unreadable CSV: {e}"));
    let mut records = reader.records();
    let Some(header) = records.next().transpose().map_err(unreadable)? else {
        // An empty file imports nothing.
        return Ok(Vec::new());
    };
    // Case-insensitive names; the first column of a name wins.
    let columns: Vec<Option<usize>> = FIELDS
        .iter()
        .map(|f| header.iter().position(|h| h.trim().eq_ignore_ascii_case(f)))
        .collect();
    if columns[0].is_none() || columns[1].is_none() {
        return Err(Error::BadRequest(
            "the CSV header (first line) must have a username and an email column".into(),
        ));
    }
    let mut lines = LineCounter::new(text.as_bytes());
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(unreadable)?;
        // A blank line, or one of only empty cells, is not a row.
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let mut row = RawRow {
            line: lines.line_at(
                record
                    .position()
                    .and_then(|p| usize::try_from(p.byte()).ok())
                    .unwrap_or(0),
            ),
            ..RawRow::default()
        };
        for (slot, column) in row.values.iter_mut().zip(&columns) {
            *slot = column
                .and_then(|c| record.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Physical line numbers of CSV records. The reader's own line count misses blank lines and
/// CRLF, and its byte offset points at the end of the previous record (before its line break and
/// any blank lines), so the record starts after the line breaks that follow it.
struct LineCounter<'a> {
    text: &'a [u8],
    /// A byte offset already counted, and the line it is on.
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            at: 0,
            line: 1,
        }
    }

    /// The line of the record reported at `offset` (offsets only grow).
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut start = offset.max(self.at);
        while self
            .text
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        let skipped = self.text.get(self.at..start).unwrap_or_default();
        self.line += skipped.iter().filter(|b| **b == b'\n').count() as u64;
        self.at = start;
        self.line
    }
}

fn parse_jsonl(text: &str) -> Vec<RawRow> {
    let mut rows = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut row = RawRow {
            line: i as u64 + 1,
            ..RawRow::default()
        };
        let invalid = |message: String| RowError {
            field: None,
            code: "invalid_json",
            message,
        };
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => {
                for (i, field) in FIELDS.into_iter().enumerate() {
                    match json_text(field, object.get(field)) {
                        Ok(v) => row.values[i] = v.filter(|v| !v.is_empty()),
                        Err(e) => {
                            row.errors.push(e);
                            row.mistyped[i] = true;
                        }
                    }
                }
            }
            Ok(_) => {
                row.not_an_object = true;
                row.errors
                    .push(invalid("the line is not a JSON object".into()));
            }
            Err(e) => {
                row.not_an_object = true;
                row.errors
                    .push(invalid(format!("the line is not JSON: {e}")));
            }
        }
        rows.push(row);
    }
    rows
}

/// A JSON value as the text a CSV cell would hold: strings as they are, `disabled` also as a
/// boolean or 0/1; null or absent is no value.
fn json_text(field: &'static str, value: Option<&Value>) -> Result<Option<String>, RowError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Bool(b)) if field == "disabled" => Ok(Some(b.to_string())),
        Some(Value::Number(n)) if field == "disabled" => Ok(Some(n.to_string())),
        Some(_) if field == "disabled" => Err(RowError::new(
            field,
            "invalid",
            "disabled must be true, false, 1 or 0",
        )),
        Some(_) => Err(RowError::new(
            field,
            "invalid",
            format!("{field} must be a string"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Checking: the rules, duplicates inside the file, existing users
// ---------------------------------------------------------------------------------------------

enum Secret {
    /// To be hashed before the write.
    Plain(String),
    /// Stored as given (argon2 or bcrypt, upgraded at first login).
    Hash(String),
    /// No password: login fails until one is set.
    None,
}

/// A row that passed every check of its own.
struct Candidate {
    username: String,
    email: String,
    display_name: Option<String>,
    role: Role,
    disabled: bool,
    secret: Secret,
}

/// A checked row: its candidate user if its own fields are fine, and every problem found.
struct Checked {
    line: u64,
    candidate: Option<Candidate>,
    /// The username / lower-cased address when valid and first in the file: what is looked up
    /// among existing users.
    username_key: Option<String>,
    email_key: Option<String>,
    errors: Vec<RowError>,
}

impl Checked {
    fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

fn check_row(mut row: RawRow) -> Checked {
    let mut errors = std::mem::take(&mut row.errors);
    if row.not_an_object {
        return Checked {
            line: row.line,
            candidate: None,
            username_key: None,
            email_key: None,
            errors,
        };
    }
    let mistyped = row.mistyped;
    let mut required = |field: &'static str, value: Option<String>| {
        if value.is_none() && !mistyped[field_rank(Some(field))] {
            errors.push(RowError::new(
                field,
                "required",
                format!("{field} is required"),
            ));
        }
        value
    };
    let username = required("username", row.take("username"));
    let email = required("email", row.take("email"));
    if let Some(p) = username.as_deref().and_then(validate::username_problem) {
        errors.push(RowError::of("username", p));
    }
    if let Some(p) = email.as_deref().and_then(validate::email_problem) {
        errors.push(RowError::of("email", p));
    }
    let display_name = row.take("display_name");
    if let Some(p) = display_name
        .as_deref()
        .and_then(validate::display_name_problem)
    {
        errors.push(RowError::of("display_name", p));
    }
    let role = match row.take("role") {
        None => Some(Role::Viewer),
        Some(r) => validate::role_problem(&r)
            .map_err(|p| errors.push(RowError::of("role", p)))
            .ok(),
    };
    let disabled = match row.take("disabled").as_deref().map(parse_flag) {
        None => Some(false),
        Some(Some(d)) => Some(d),
        Some(None) => {
            errors.push(RowError::new(
                "disabled",
                "invalid",
                "disabled must be true, false, 1 or 0",
            ));
            None
        }
    };
    let secret = match (row.take("password"), row.take("password_hash")) {
        (Some(_), Some(_)) => {
            errors.push(RowError::new(
                "password",
                "invalid",
                "give password or password_hash, not both",
            ));
            None
        }
        (Some(p), None) => match validate::password_problem(&p) {
            Some(problem) => {
                errors.push(RowError::of("password", problem));
                None
            }
            None => Some(Secret::Plain(p)),
        },
        (None, Some(h)) => match password::check_stored_hash(&h) {
            Ok(()) => Some(Secret::Hash(h)),
            Err(message) => {
                errors.push(RowError::new(
                    "password_hash",
                    "invalid",
                    format!("password_hash {message}"),
                ));
                None
            }
        },
        (None, None) => Some(Secret::None),
    };
    let username_key = username
        .clone()
        .filter(|u| validate::username_problem(u).is_none());
    let email_key = email
        .as_deref()
        .filter(|e| validate::email_problem(e).is_none())
        .map(str::to_lowercase);
    let candidate = match (username, email, role, disabled, secret) {
        (Some(username), Some(email), Some(role), Some(disabled), Some(secret))
            if errors.is_empty() =>
        {
            Some(Candidate {
                username,
                email,
                display_name,
                role,
                disabled,
                secret,
            })
        }
        _ => None,
    };
    Checked {
        line: row.line,
        candidate,
        username_key,
        email_key,
        errors,
    }
}

fn parse_flag(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Every row's own checks, then duplicates: a username or address seen on an earlier line makes
/// the later row a `duplicate` (the earlier one stays, valid or not).
fn check_rows(rows: Vec<RawRow>) -> Vec<Checked> {
    let mut checked: Vec<Checked> = rows.into_iter().map(check_row).collect();
    let mut usernames: HashMap<String, u64> = HashMap::new();
    let mut emails: HashMap<String, u64> = HashMap::new();
    for row in &mut checked {
        if let Some(u) = row.username_key.clone() {
            if let Some(first) = usernames.get(&u) {
                row.errors.push(RowError::new(
                    "username",
                    "duplicate",
                    format!("username '{u}' is also on line {first}"),
                ));
                row.username_key = None;
            } else {
                usernames.insert(u, row.line);
            }
        }
        if let Some(e) = row.email_key.clone() {
            if let Some(first) = emails.get(&e) {
                row.errors.push(RowError::new(
                    "email",
                    "duplicate",
                    format!("the email address is also on line {first}"),
                ));
                row.email_key = None;
            } else {
                emails.insert(e, row.line);
            }
        }
    }
    checked
}

fn taken_username(name: &str) -> RowError {
    RowError::new(
        "username",
        "taken",
        format!("username '{name}' is already taken"),
    )
}

fn taken_email() -> RowError {
    RowError::new("email", "taken", "the email address is already in use")
}

// ---------------------------------------------------------------------------------------------
// Progress: the ephemeral import.* events
// ---------------------------------------------------------------------------------------------

/// The counts of a running import and their events; `import.finished` goes out when it is
/// dropped, whatever ended the import.
struct Progress {
    realtime: Realtime,
    actor: Actor,
    id: String,
    dry_run: bool,
    mode: Mode,
    rows_total: u64,
    /// Rows settled (with a problem) or ready to write (checked and hashed).
    rows_done: u64,
    created: u64,
    skipped: u64,
    /// Rows with a problem.
    errors: u64,
    last: Instant,
}

impl Progress {
    fn start(realtime: Realtime, actor: Actor, options: Options, rows: &[RawRow]) -> Self {
        let progress = Self {
            realtime,
            actor,
            id: uuid::Uuid::now_v7().to_string(),
            dry_run: options.dry_run,
            mode: options.mode,
            rows_total: rows.len() as u64,
            rows_done: 0,
            created: 0,
            skipped: 0,
            errors: 0,
            last: Instant::now(),
        };
        progress.publish(EventType::ImportStarted);
        progress
    }

    fn publish(&self, kind: EventType) {
        let data = json!({
            "import_id": self.id, "dry_run": self.dry_run, "mode": self.mode.as_str(),
            "rows_total": self.rows_total, "rows_done": self.rows_done, "created": self.created,
            "skipped": self.skipped, "errors": self.errors,
        });
        self.realtime.publish(kind, Some(&self.actor), &data);
    }

    /// `import.progress`, unless one went out less than [`PROGRESS_INTERVAL`] ago.
    fn tick(&mut self) {
        if self.last.elapsed() >= PROGRESS_INTERVAL {
            self.last = Instant::now();
            self.publish(EventType::ImportProgress);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.publish(EventType::ImportFinished);
    }
}

// ---------------------------------------------------------------------------------------------
// The import itself
// ---------------------------------------------------------------------------------------------

struct Job {
    writer: Writer,
    hasher: PasswordHasher,
    progress: Progress,
    options: Options,
}

impl Job {
    async fn run(mut self, rows: Vec<RawRow>) -> Result<UserImportReport> {
        let mut checked = tokio::task::spawn_blocking(move || check_rows(rows))
            .await
            .map_err(|e| Error::Internal(format!("import checks failed: {e}")))?;
        self.mark_existing(&mut checked).await?;

        let total = checked.len() as u64;
        let bad = checked.iter().filter(|c| !c.ok()).count() as u64;
        self.progress.errors = bad;
        if bad > 0 && self.options.mode == Mode::AllOrNothing {
            self.progress.rows_done = total;
            self.progress.skipped = total;
            return Ok(self.report(checked));
        }
        if self.options.dry_run {
            self.progress.rows_done = total;
            self.progress.created = total - bad;
            self.progress.skipped = bad;
            return Ok(self.report(checked));
        }
        self.progress.skipped = bad;
        self.write(&mut checked).await?;
        Ok(self.report(checked))
    }

    /// Marks rows whose username or address an existing user has (`taken`), in batched lookups.
    async fn mark_existing(&self, checked: &mut [Checked]) -> Result<()> {
        let usernames: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.username_key.as_deref())
            .collect();
        let emails: Vec<&str> = checked
            .iter()
            .filter_map(|c| c.email_key.as_deref())
            .collect();
        let (names, addresses) =
            service::existing(self.writer.db().conn(), &usernames, &emails).await?;
        for row in checked {
            if let Some(u) = row.username_key.as_deref().filter(|u| names.contains(*u)) {
                row.errors.push(taken_username(u));
            }
            if row
                .email_key
                .as_deref()
                .is_some_and(|e| addresses.contains(e))
            {
                row.errors.push(taken_email());
            }
            if !row.errors.is_empty() {
                row.candidate = None;
            }
        }
        Ok(())
    }

    /// Hashes the plaintext passwords (concurrently, in file order) and writes the rows:
    /// `all_or_nothing` in one transaction once all are hashed, `skip_invalid` a batch at a
    /// time as they become ready.
    async fn write(&mut self, checked: &mut [Checked]) -> Result<()> {
        let mut good: Vec<(usize, Candidate)> = checked
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| c.candidate.take().map(|cand| (i, cand)))
            .collect();
        let needs_hash = good
            .iter()
            .filter(|(_, c)| matches!(c.secret, Secret::Plain(_)))
            .count() as u64;
        self.progress.rows_done = self.progress.errors + good.len() as u64 - needs_hash;
        self.progress.tick();

        let hasher = self.hasher.clone();
        let mut ready = stream::iter(good.drain(..))
            .map(|(i, c)| {
                let hasher = hasher.clone();
                async move {
                    let hashed = matches!(c.secret, Secret::Plain(_));
                    let hash = match c.secret {
                        Secret::Plain(p) => hasher.hash(p).await?,
                        Secret::Hash(h) => h,
                        Secret::None => NO_PASSWORD.to_owned(),
                    };
                    let user = ImportedUser {
                        username: c.username,
                        email: c.email,
                        display_name: c.display_name,
                        role: c.role,
                        disabled: c.disabled,
                        password_hash: hash,
                    };
                    Ok::<_, Error>((i, user, hashed))
                }
            })
            .buffered(self.hasher.concurrency().max(1));
        let batch = match self.options.mode {
            Mode::SkipInvalid => WRITE_BATCH,
            Mode::AllOrNothing => usize::MAX,
        };
        let mut pending: Vec<(usize, ImportedUser)> = Vec::new();
        while let Some(next) = ready.next().await {
            let (i, user, hashed) = next?;
            if hashed {
                self.progress.rows_done += 1;
                self.progress.tick();
            }
            pending.push((i, user));
            if pending.len() >= batch {
                self.insert(checked, std::mem::take(&mut pending)).await?;
            }
        }
        self.insert(checked, pending).await
    }

    /// Inserts one batch; rows that lost to a user created meanwhile are reported `taken` —
    /// `all_or_nothing` then creates nothing, `skip_invalid` retries without them.
    async fn insert(
        &mut self,
        checked: &mut [Checked],
        mut batch: Vec<(usize, ImportedUser)>,
    ) -> Result<()> {
        let actor = self.progress.actor.clone();
        while !batch.is_empty() {
            let users: Vec<ImportedUser> = batch.iter().map(|(_, u)| u.clone()).collect();
            match service::insert_batch(&self.writer, &actor, &users).await? {
                BatchOutcome::Created(created) => {
                    self.progress.created += created.len() as u64;
                    self.progress.tick();
                    return Ok(());
                }
                BatchOutcome::Taken(taken) => {
                    let mut lost = vec![false; batch.len()];
                    for t in &taken {
                        let (row, user) = &batch[t.index];
                        let errors = &mut checked[*row].errors;
                        if t.username {
                            errors.push(taken_username(&user.username));
                        }
                        if t.email {
                            errors.push(taken_email());
                        }
                        lost[t.index] = true;
                    }
                    if self.options.mode == Mode::AllOrNothing {
                        self.progress.errors += taken.len() as u64;
                        self.progress.created = 0;
                        self.progress.skipped = self.progress.rows_total;
                        return Ok(());
                    }
                    self.progress.errors += taken.len() as u64;
                    self.progress.skipped += taken.len() as u64;
                    let mut keep = lost.iter().map(|l| !l);
                    batch.retain(|_| keep.next().unwrap_or(false));
                }
            }
        }
        Ok(())
    }

    fn report(self, checked: Vec<Checked>) -> UserImportReport {
        let mut errors: Vec<(u64, RowError)> = checked
            .into_iter()
            .flat_map(|c| c.errors.into_iter().map(move |e| (c.line, e)))
            .collect();
        // Stable: within a field, in the order found.
        errors.sort_by_key(|(line, e)| (*line, field_rank(e.field)));
        errors.truncate(MAX_LISTED_ERRORS);
        UserImportReport {
            import_id: self.progress.id.clone(),
            created: self.progress.created,
            skipped: self.progress.skipped,
            errors: errors
                .into_iter()
                .map(|(line, e)| UserImportError {
                    line,
                    field: e.field.map(str::to_owned),
                    code: e.code.to_owned(),
                    message: e.message,
                })
                .collect(),
        }
        // Dropping `self` publishes `import.finished` with these counts.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(field, code)` of a row's problems.
    type Codes = Vec<(Option<&'static str>, &'static str)>;

    fn lines_and_codes(rows: Vec<RawRow>) -> Vec<(u64, Codes)> {
        check_rows(rows)
            .into_iter()
            .map(|c| {
                let mut e: Vec<_> = c.errors.iter().map(|e| (e.field, e.code)).collect();
                e.sort_by_key(|(f, _)| field_rank(*f));
                (c.line, e)
            })
            .collect()
    }

    #[test]
    fn csv_lines_count_physical_lines_and_headers_are_case_insensitive() {
        let text = "ID,UserName,Email,Display_Name,extra\n\
                    1,ann,ann@example.com,Ann,\"two\nlines\"\n\
                    \n\
                    2,Bad!,bob@example.com,,y\n\
                    3,cid,cid@example.com,\"C\nid\",\n\
                    \n\
                    \n\
                    ,,,,\n\
                    4,dee,dee@example.com";
        let rows = parse(Format::Csv, text.as_bytes()).expect("parsed");
        assert_eq!(
            lines_and_codes(rows),
            vec![
                (2, vec![]),
                (5, vec![(Some("username"), "invalid")]),
                (6, vec![(Some("display_name"), "invalid")]),
                (11, vec![]),
            ]
        );
        let crlf = "username,email\r\nann,ann@example.com\r\n\r\nbob,b\r\n";
        let rows = parse(Format::Csv, crlf.as_bytes()).expect("parsed");
        assert_eq!(
            lines_and_codes(rows),
            vec![(2, vec![]), (4, vec![(Some("email"), "invalid")])]
        );
    }

    #[test]
    fn csv_without_username_or_email_is_refused_and_empty_is_nothing() {
        assert!(parse(Format::Csv, b"email,role\na@b.co,admin\n").is_err());
        assert!(parse(Format::Csv, b"username\nann\n").is_err());
        assert!(parse(Format::Csv, b"").expect("empty").is_empty());
        assert!(
            parse(Format::Csv, b"username,email\n")
                .expect("header only")
                .is_empty()
        );
        assert!(parse(Format::Csv, b"\xff\xfe").is_err());
    }

    #[test]
    fn jsonl_rows_and_their_problems() {
        let text = "{\"username\":\"ann\",\"email\":\"ann@example.com\",\"disabled\":true,\"id\":\"x\"}\n\
                    \n\
                    [1,2]\n\
                    not json\r\n\
                    {\"username\":5,\"email\":\"ANN@example.com\",\"role\":\"owner\",\"disabled\":\"maybe\"}\n\
                    {\"username\":\"ann\",\"email\":\"c@example.com\",\"password\":\"short\",\"password_hash\":null}\n";
        let rows = parse(Format::Jsonl, text.as_bytes()).expect("parsed");
        assert_eq!(
            lines_and_codes(rows),
            vec![
                (1, vec![]),
                (3, vec![(None, "invalid_json")]),
                (4, vec![(None, "invalid_json")]),
                (
                    5,
                    vec![
                        (Some("username"), "invalid"),
                        (Some("email"), "duplicate"),
                        (Some("role"), "invalid"),
                        (Some("disabled"), "invalid"),
                    ]
                ),
                (
                    6,
                    vec![
                        (Some("username"), "duplicate"),
                        (Some("password"), "too_short")
                    ]
                ),
            ]
        );
    }

    #[test]
    fn password_or_hash_but_not_both() {
        let text = "username,email,password,password_hash\n\
                    ann,ann@example.com,long-enough,$2b$04$abc\n\
                    bob,bob@example.com,,md5:abc\n\
                    cid,cid@example.com,,\n";
        let rows = parse(Format::Csv, text.as_bytes()).expect("parsed");
        assert_eq!(
            lines_and_codes(rows),
            vec![
                (2, vec![(Some("password"), "invalid")]),
                (3, vec![(Some("password_hash"), "invalid")]),
                (4, vec![]),
            ]
        );
    }

    #[test]
    fn options_parse() {
        assert!(
            Options::parse(None, None, None).is_ok_and(|o| o.mode == Mode::AllOrNothing
                && !o.dry_run
                && o.format == Format::Csv)
        );
        assert!(Options::parse(Some("xml"), None, None).is_err());
        assert!(Options::parse(None, None, Some("some")).is_err());
        assert!(
            Options::parse(Some("jsonl"), Some(true), Some("skip_invalid"))
                .is_ok_and(|o| o.mode == Mode::SkipInvalid && o.dry_run)
        );
    }
}
