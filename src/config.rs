//! Command line and environment configuration (clap, every flag with an env fallback).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Switchboard: a single-binary admin backend with a live admin panel.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve` options, accepted without the subcommand too (serving is the default).
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// Parses the command line (exits with clap's message on errors). The global options go
    /// anywhere; `serve`'s own options before a subcommand are refused rather than ignored.
    pub fn parse_checked() -> Self {
        use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
        let matches = Self::command().get_matches();
        let cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Some(sub) = matches.subcommand_name() {
            let serve_ids = <ServeArgs as Args>::augment_args(clap::Command::new("serve"))
                .get_arguments()
                .map(|a| a.get_id().to_string())
                .collect::<Vec<_>>();
            let misplaced: Vec<String> = serve_ids
                .iter()
                .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
                .map(|id| format!("--{}", id.replace('_', "-")))
                .collect();
            if !misplaced.is_empty() {
                Self::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "{} only {} to `serve`; put {} after it: `switchboard serve {} …`{}",
                            misplaced.join(", "),
                            if misplaced.len() == 1 {
                                "applies"
                            } else {
                                "apply"
                            },
                            if misplaced.len() == 1 { "it" } else { "them" },
                            misplaced.join(" … "),
                            if sub == "serve" {
                                ""
                            } else {
                                " (it means nothing here)"
                            }
                        ),
                    )
                    .exit();
            }
        }
        cli
    }
}

/// Options every subcommand understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Directory for the SQLite database, the JWT secret and stored files.
    #[arg(
        long,
        env = "SWITCHBOARD_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://…` or `postgres://…`. Default: SQLite in the data dir.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Log output format.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

impl GlobalArgs {
    /// The configured database URL, or the default SQLite file inside the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("switchboard.db").display()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once at start: the size of the serve options' variant costs nothing worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Create, list, delete and restore backups (docs/API.md §8).
    #[command(subcommand)]
    Backup(BackupCommand),
}

/// Where backups are kept: a directory, or an S3 bucket and prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupLocation {
    /// The default, `<data-dir>/backups`.
    Default,
    Dir(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl std::fmt::Display for BackupLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("<data-dir>/backups"),
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::S3 { bucket, prefix } => StorageLocation::S3 {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            }
            .fmt(f),
        }
    }
}

fn parse_backup_location(value: &str) -> Result<BackupLocation, String> {
    if value.is_empty() {
        return Ok(BackupLocation::Default);
    }
    if value.starts_with("s3://") {
        return match parse_storage(value)? {
            StorageLocation::S3 { bucket, prefix } => Ok(BackupLocation::S3 { bucket, prefix }),
            StorageLocation::File => Err("expected s3://bucket/prefix".into()),
        };
    }
    Ok(BackupLocation::Dir(PathBuf::from(value)))
}

/// `--backup-every`: `30m`, `6h`, `1d`… (humantime), at least a second.
fn parse_backup_every(value: &str) -> Result<std::time::Duration, String> {
    let every = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if every < std::time::Duration::from_secs(1) {
        return Err("at least 1s".into());
    }
    Ok(every)
}

/// Options shared by the backup subcommands.
#[derive(Debug, Clone, Args)]
pub struct BackupTargetArgs {
    /// Where backups are kept: a directory or `s3://bucket/prefix` (the `AWS_*` variables as
    /// for `--storage`). Default: `<data-dir>/backups`.
    #[arg(long = "to", visible_alias = "from", env = "SWITCHBOARD_BACKUP_TO",
          value_parser = parse_backup_location, default_value = "")]
    pub target: BackupLocation,
    /// Where the file bytes are (as `serve --storage`).
    #[arg(long, env = "SWITCHBOARD_STORAGE", default_value = "file", value_parser = parse_storage)]
    pub storage: StorageLocation,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now (the server may be running).
    Create {
        #[command(flatten)]
        target: BackupTargetArgs,
    },
    /// List the complete backups, newest first.
    List {
        #[command(flatten)]
        target: BackupTargetArgs,
    },
    /// Delete a backup (and the objects no other backup needs).
    Delete {
        id: String,
        #[command(flatten)]
        target: BackupTargetArgs,
    },
    /// Restore a backup, with the server stopped: an id (in `--from`), a backup directory, or a
    /// downloaded `.tar`. Verifies everything first; the replaced database is kept aside.
    Restore {
        source: String,
        #[command(flatten)]
        target: BackupTargetArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["admin", "viewer"])]
        role: String,
        /// Defaults to `<username>@localhost`.
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a user's password (read from standard input); ends all their sessions.
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

/// Options of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HMAC secret for access tokens. Default: generated once, kept in `<data-dir>/jwt_secret` (mode 0600).
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_UPLOAD_BYTES", default_value_t = 1 << 30)]
    pub max_upload_bytes: u64,
    /// Largest accepted JSON request body, in bytes.
    #[arg(long, env = "SWITCHBOARD_JSON_BODY_LIMIT_BYTES", default_value_t = 1 << 20)]
    pub json_body_limit_bytes: usize,
    /// Access token lifetime in seconds (at most 900).
    #[arg(long, env = "SWITCHBOARD_ACCESS_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    pub access_token_ttl_secs: u64,
    /// Refresh token (session) lifetime in seconds.
    #[arg(long, env = "SWITCHBOARD_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// Failed logins per username within the window before further attempts get 429.
    #[arg(
        long,
        env = "SWITCHBOARD_LOGIN_MAX_FAILURES_PER_USER",
        default_value_t = 5
    )]
    pub login_max_failures_per_user: u32,
    /// Failed logins per client address within the window before further attempts get 429.
    #[arg(
        long,
        env = "SWITCHBOARD_LOGIN_MAX_FAILURES_PER_IP",
        default_value_t = 20
    )]
    pub login_max_failures_per_ip: u32,
    /// Length of the failed-login window, in seconds.
    #[arg(
        long,
        env = "SWITCHBOARD_LOGIN_FAILURE_WINDOW_SECS",
        default_value_t = 900
    )]
    pub login_failure_window_secs: u64,
    /// Concurrent password hashes (argon2id); 0 = number of available cores.
    #[arg(long, env = "SWITCHBOARD_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: usize,
    /// Database connection pool size. Default: 4 on SQLite (one writer at a time; a few readers
    /// are fastest), 16 on PostgreSQL.
    #[arg(long, env = "SWITCHBOARD_DB_POOL_SIZE")]
    pub db_pool_size: Option<u32>,
    /// Seconds a new WebSocket has to send its auth message.
    #[arg(long, env = "SWITCHBOARD_WS_AUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_auth_timeout_secs: u64,
    /// Frames queued per WebSocket before a slow client is closed with 4008.
    #[arg(long, env = "SWITCHBOARD_WS_QUEUE_CAPACITY", default_value_t = 1024)]
    pub ws_queue_capacity: usize,
    /// Events older than this many days are removed from the log.
    #[arg(long, env = "SWITCHBOARD_EVENT_RETENTION_DAYS", default_value_t = 7)]
    pub event_retention_days: u64,
    /// At most this many events are kept in the log.
    #[arg(
        long,
        env = "SWITCHBOARD_EVENT_RETENTION_COUNT",
        default_value_t = 100_000
    )]
    pub event_retention_count: u64,
    /// How often retention is applied, in seconds.
    #[arg(long, env = "SWITCHBOARD_EVENT_SWEEP_INTERVAL_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub event_sweep_interval_secs: u64,
    /// Base URL for share links (e.g. `https://files.example.com`); default: from the `Host`
    /// header of the request that creates the link.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Admins must enrol a second factor (TOTP) before they can do anything else.
    #[arg(long, env = "SWITCHBOARD_REQUIRE_MFA_FOR_ADMINS")]
    pub require_mfa_for_admins: bool,
    /// SMTP server for invitations and password resets: `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS) or `smtp://host:25` (plain, local relays
    /// only). Without it, no mail is sent; admins copy links from the panel.
    #[arg(long, env = "SWITCHBOARD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of mail, e.g. `Switchboard <admin@example.com>`.
    #[arg(
        long,
        env = "SWITCHBOARD_SMTP_FROM",
        default_value = "Switchboard <switchboard@localhost>"
    )]
    pub smtp_from: String,
    /// Days an invitation link stays valid unless the invitation says otherwise.
    #[arg(long, env = "SWITCHBOARD_INVITATION_TTL_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u64).range(1..=30))]
    pub invitation_ttl_days: u64,
    /// Overrides `--invitation-ttl-days` with seconds (tests of expiry).
    #[arg(long, env = "SWITCHBOARD_INVITATION_TTL_SECS", hide = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub invitation_ttl_secs: Option<u64>,
    /// Seconds a password reset link stays valid.
    #[arg(long, env = "SWITCHBOARD_RESET_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub reset_ttl_secs: u64,
    /// Password reset requests per client address within the login-failure window before 429.
    #[arg(long, env = "SWITCHBOARD_RESET_MAX_PER_IP", default_value_t = 10)]
    pub reset_max_per_ip: u32,
    /// How often expired files and links are deleted, in seconds.
    #[arg(long, env = "SWITCHBOARD_FILE_SWEEP_INTERVAL_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub file_sweep_interval_secs: u64,
    /// Seconds an unfinished resumable upload is kept after its last change (`Upload-Expires`).
    #[arg(long, env = "SWITCHBOARD_UPLOAD_EXPIRY_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_expiry_secs: u64,
    /// Allow URL imports from loopback, private and link-local addresses.
    #[arg(long, env = "SWITCHBOARD_IMPORT_ALLOW_PRIVATE")]
    pub import_allow_private: bool,
    /// URL imports running at once; more wait in a queue.
    #[arg(long, env = "SWITCHBOARD_IMPORT_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub import_concurrency: u64,
    /// Redirects a URL import follows.
    #[arg(long, env = "SWITCHBOARD_IMPORT_MAX_REDIRECTS", default_value_t = 5)]
    pub import_max_redirects: usize,
    /// Seconds a URL import may take in all.
    #[arg(long, env = "SWITCHBOARD_IMPORT_TIMEOUT_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub import_timeout_secs: u64,
    /// Seconds without a heartbeat after which a queued or running task is shown (and
    /// recorded) as `interrupted`: its server died. At least 3 (heartbeats are once a second).
    #[arg(long, env = "SWITCHBOARD_TASK_STALE_SECS", default_value_t = 15, hide = true,
          value_parser = clap::value_parser!(u64).range(3..))]
    pub task_stale_secs: u64,
    /// Web origins (`https://admin.example.com`), comma-separated, whose pages may open the
    /// WebSocket besides the server's own origin (and `--public-url`'s); `*` allows any.
    #[arg(long, env = "SWITCHBOARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Web origins, comma-separated, allowed to call the REST API from a browser (CORS);
    /// none by default (CORS off). `*` allows any origin.
    #[arg(long, env = "SWITCHBOARD_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a complete request head, counted from the moment the
    /// server waits for one (a new connection, or an idle keep-alive connection); slower
    /// clients are disconnected.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// Where file bytes are kept: `file` (under the data dir) or `s3://bucket/prefix` (an S3 or
    /// S3-compatible bucket; credentials, region and endpoint from `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`). Several instances may share
    /// one bucket (and one PostgreSQL database).
    #[arg(long, env = "SWITCHBOARD_STORAGE", default_value = "file", value_parser = parse_storage)]
    pub storage: StorageLocation,
    /// Seconds a request body may stall (no byte arriving while the server waits for one)
    /// before the request is answered 408 and the connection closed. An idle timeout, not a
    /// total one: a slow but steady upload never hits it.
    #[arg(long, env = "SWITCHBOARD_BODY_IDLE_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_idle_timeout_secs: u64,
    /// Where backups go: a directory or `s3://bucket/prefix`. Default: `<data-dir>/backups`.
    #[arg(long, env = "SWITCHBOARD_BACKUP_TO", value_parser = parse_backup_location,
          default_value = "")]
    pub backup_to: BackupLocation,
    /// Take a backup this often (`6h`, `1d`, `30m`); none by default. Counted
    /// from the newest complete backup, so a restart neither skips nor repeats one. Set it on
    /// one instance of a cluster.
    #[arg(long, env = "SWITCHBOARD_BACKUP_EVERY", value_parser = parse_backup_every)]
    pub backup_every: Option<std::time::Duration>,
    /// After a scheduled backup, keep only the newest N complete backups (0: keep all).
    #[arg(long, env = "SWITCHBOARD_BACKUP_KEEP", default_value_t = 0)]
    pub backup_keep: usize,
    /// Read file objects for a backup at most this fast, in bytes per second (0: no limit), so
    /// a backup does not starve downloads of disk or network.
    #[arg(
        long,
        env = "SWITCHBOARD_BACKUP_MAX_BYTES_PER_SEC",
        default_value_t = 0
    )]
    pub backup_max_bytes_per_sec: u64,
}

/// The value of `--storage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// The local filesystem under the data dir.
    File,
    /// An S3 bucket, every key under `prefix` (no leading or trailing `/`; empty: the root).
    S3 { bucket: String, prefix: String },
}

impl std::fmt::Display for StorageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File => f.write_str("file"),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

fn parse_storage(value: &str) -> Result<StorageLocation, String> {
    if value == "file" {
        return Ok(StorageLocation::File);
    }
    let Some(rest) = value.strip_prefix("s3://") else {
        return Err("expected `file` or `s3://bucket/prefix`".into());
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens.
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, `.` and `-`)"
        ));
    }
    let prefix = prefix.trim_matches('/');
    // The store's own path rules: no empty, `.` or `..` segment, no control characters.
    if !prefix.is_empty() {
        object_store::path::Path::parse(prefix)
            .map_err(|e| format!("{prefix:?} is not a usable key prefix: {e}"))?;
    }
    Ok(StorageLocation::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::{StorageLocation, parse_storage};

    #[test]
    fn storage_values() {
        assert_eq!(parse_storage("file"), Ok(StorageLocation::File));
        let s3 = |bucket: &str, prefix: &str| StorageLocation::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        };
        assert_eq!(parse_storage("s3://my-bucket"), Ok(s3("my-bucket", "")));
        assert_eq!(parse_storage("s3://my-bucket/"), Ok(s3("my-bucket", "")));
        assert_eq!(
            parse_storage("s3://my.bucket/a/b/"),
            Ok(s3("my.bucket", "a/b"))
        );
        assert_eq!(
            parse_storage("s3://b12/a/b").map(|l| l.to_string()),
            Ok("s3://b12/a/b".into())
        );
        for bad in [
            "",
            "File",
            "s3:/x",
            "s3://",
            "s3://ab",
            "s3://Bucket",
            "s3://-ab",
            "s3://my_bucket/x",
            "s3://bucket/a//b",
            "s3://bucket/a/../b",
            "gs://bucket",
        ] {
            assert!(parse_storage(bad).is_err(), "{bad:?} accepted");
        }
    }
}
