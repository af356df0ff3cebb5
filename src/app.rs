//! Wiring: build the state from the command line, compose the routes, `serve`. Nothing imports
//! this module but `main`; it imports whatever it wires.

use std::{future::Future, time::Duration};

use poem::{EndpointExt, Route, get};
use sea_orm::DbBackend;

use crate::{
    auth::{cache::PrincipalCache, jwt::JwtKeys, password::PasswordHasher, throttle::Throttle},
    backup::{self, service::Backups},
    bootstrap,
    config::{GlobalArgs, ServeArgs},
    data_lock,
    db::Db,
    files::{
        self,
        slots::Slots,
        tasks::{ImportConfig, Imports},
    },
    health,
    listener::{self, ServerConfig},
    mail::Mailer,
    metrics,
    middleware::{BodyIdleTimeout, BodyLimit, ErrorEnvelope, InputGuard},
    openapi, origin, panel,
    realtime::{self, Realtime, asyncapi, event::CloseCode, ws},
    s3, secret,
    state::{AppState, ListTotals, Parts, Settings, Throttles},
    uploads,
    write::Writer,
};

/// Connects, migrates, starts realtime, bootstraps the first admin, loads the JWT secret and
/// starts the background sweepers.
async fn build_state(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<AppState> {
    let url = global.database_url();
    let db = Db::connect(&url, args.db_pool_size).await?;
    db.migrate().await?;
    let hasher = PasswordHasher::new(args.hash_concurrency)?;
    let realtime_settings = realtime::Settings {
        auth_timeout: Duration::from_secs(args.ws_auth_timeout_secs),
        queue_capacity: args.ws_queue_capacity,
        retention_count: args.event_retention_count,
        retention_days: args.event_retention_days,
        sweep_interval: Duration::from_secs(args.event_sweep_interval_secs),
    };
    let realtime = Realtime::start(db.clone(), url, realtime_settings).await?;
    // Resolved sessions are cached only where this process sees every write (SQLite).
    let principals = PrincipalCache::new(db.backend() == DbBackend::Sqlite);
    let writer = Writer::new(db.clone(), realtime.clone(), principals);
    bootstrap::ensure_admin(&writer, &hasher).await?;
    let secret = secret::jwt_secret(&global.data_dir, args.jwt_secret.as_deref())?;
    let window = Duration::from_secs(args.login_failure_window_secs);
    let storage = s3::open_storage(&args.storage, &global.data_dir).await?;
    tracing::info!(storage = storage.description(), "file storage ready");
    let removed = storage.clean_tmp()?;
    if removed > 0 {
        tracing::info!(removed, "removed temp files of interrupted uploads");
    }
    let imports = Imports::start(
        ImportConfig {
            allow_private: args.import_allow_private,
            concurrency: usize::try_from(args.import_concurrency).unwrap_or(usize::MAX),
            max_redirects: args.import_max_redirects,
            timeout: Duration::from_secs(args.import_timeout_secs),
            stale: Duration::from_secs(args.task_stale_secs),
        },
        writer.clone(),
    )
    .await?;
    let mailer = match &args.smtp_url {
        Some(url) => Some(Mailer::new(url, &args.smtp_from)?),
        None => None,
    };
    if mailer.is_some() && args.public_url.is_none() {
        tracing::warn!(
            "--smtp-url is set without --public-url: links in e-mail point at http://{}",
            args.listen
        );
    }
    realtime::retention::spawn_sweeper(writer.clone(), realtime);
    files::service::spawn_sweeper(
        writer.clone(),
        storage.clone(),
        Duration::from_secs(args.file_sweep_interval_secs),
    );
    uploads::service::spawn_sweeper(
        uploads::service::Uploads::new(
            writer.clone(),
            storage.clone(),
            args.max_upload_bytes,
            Duration::from_secs(args.upload_expiry_secs),
        ),
        Duration::from_secs(args.file_sweep_interval_secs),
    );
    let backups = Backups::new(
        backup::create::Context {
            db: db.clone(),
            database_url: global.database_url(),
            live: storage.clone(),
            target: s3::open_backup_location(&args.backup_to, &global.data_dir)?,
            tmp: storage.tmp_dir().to_owned(),
            max_bytes_per_sec: args.backup_max_bytes_per_sec,
        },
        writer.clone(),
    );
    if let Some(every) = args.backup_every {
        tracing::info!(
            every = %humantime::format_duration(every), keep = args.backup_keep,
            location = backups.location(), "scheduled backups"
        );
        backups.spawn_schedule(every, args.backup_keep);
    }
    Ok(AppState::new(Parts {
        stats: Default::default(),
        backups,
        writer,
        jwt: JwtKeys::new(&secret, args.access_token_ttl_secs),
        hasher,
        throttles: Throttles {
            user: Throttle::new(args.login_max_failures_per_user, window),
            ip: Throttle::new(args.login_max_failures_per_ip, window),
            mfa: Throttle::new(args.login_max_failures_per_user, window),
            reset_ip: Throttle::new(args.reset_max_per_ip, window),
            reset_email: Throttle::new(RESET_MAILS_PER_HOUR, Duration::from_secs(3600)),
        },
        settings: Settings {
            refresh_ttl_secs: args.refresh_token_ttl_secs,
            json_body_limit_bytes: args.json_body_limit_bytes,
            max_upload_bytes: args.max_upload_bytes,
            public_url: args.public_url.clone(),
            allowed_origins: origin::normalise_all(&args.allowed_origins),
            cors_origins: origin::normalise_all(&args.cors_origins),
            body_idle_timeout: Duration::from_secs(args.body_idle_timeout_secs),
            upload_expiry: Duration::from_secs(args.upload_expiry_secs),
            require_mfa_for_admins: args.require_mfa_for_admins,
            invitation_ttl: match args.invitation_ttl_secs {
                Some(secs) => {
                    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
                }
                None => {
                    chrono::Duration::days(i64::try_from(args.invitation_ttl_days).unwrap_or(7))
                }
            },
            reset_ttl: chrono::Duration::seconds(
                i64::try_from(args.reset_ttl_secs).unwrap_or(3600),
            ),
            mail_base_url: mail_base_url(args),
        },
        storage,
        download_slots: Slots::default(),
        imports,
        totals: ListTotals::default(),
        mailer,
    }))
}

/// Reset mails one address receives per hour at most.
const RESET_MAILS_PER_HOUR: u32 = 3;

/// Links in e-mail: `--public-url`, else the listen address (never a request's `Host`).
fn mail_base_url(args: &ServeArgs) -> String {
    match &args.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", args.listen),
    }
}

/// The whole HTTP application.
fn routes(state: AppState) -> impl poem::Endpoint {
    let api = openapi::service();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let body_limit = BodyLimit {
        max_bytes: state.settings().json_body_limit_bytes,
    };
    // CORS only when configured: without it browsers keep other sites' pages out of the API.
    let api = api.with(body_limit).with_if(
        !state.settings().cors_origins.is_empty(),
        origin::cors(&state.settings().cors_origins),
    );
    Route::new()
        .at("/api/openapi.json", spec)
        .at("/api/asyncapi.json", get(asyncapi::endpoint))
        .at("/api/ws", get(ws::endpoint))
        .nest("/api/docs", docs)
        .nest("/api", api)
        .at(
            "/d/:token",
            get(files::api::public_download).head(files::api::public_download),
        )
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/metrics", get(metrics::endpoint))
        // Last: the static and prefix routes above win over this catch-all.
        .at("/*path", panel::Panel::new())
        .with(BodyIdleTimeout {
            idle: state.settings().body_idle_timeout,
        })
        .with(InputGuard)
        // A handler that panics answers a logged 500 (in the JSON envelope) instead of
        // dropping the connection.
        .with(poem::middleware::CatchPanic::new().with_handler(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                poem::http::StatusCode::INTERNAL_SERVER_ERROR
            },
        ))
        .with(ErrorEnvelope)
        .data(state)
}

/// Runs the server on `listener` until `shutdown` resolves, then closes WebSockets with 1001 and
/// lets in-flight requests finish (bounded by `--shutdown-grace-secs`).
pub async fn serve(
    global: GlobalArgs,
    args: ServeArgs,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    metrics::install();
    // Held while serving, so `backup restore` refuses to replace the database under us.
    let _data_lock = match data_lock::try_acquire(&global.data_dir)? {
        Some(lock) => Some(lock),
        None => {
            tracing::warn!(
                data_dir = %global.data_dir.display(),
                "another process holds the data dir's lock (a second server on the same data dir?)"
            );
            None
        }
    };
    let state = build_state(&global, &args).await?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, "listening");
    let db = state.db().clone();
    let realtime = state.realtime().clone();
    let shutdown = async move {
        shutdown.await;
        realtime.close_all(CloseCode::GoingAway);
        realtime.tracker().drained(Duration::from_secs(2)).await;
    };
    let config = ServerConfig {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
    };
    listener::serve(listener, routes(state), config, shutdown).await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}
