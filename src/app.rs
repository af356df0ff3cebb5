//! Application state, the route table, and `serve`: the one seam tests and `main` share.

use std::{future::Future, ops::Deref, sync::Arc, time::Duration};

use poem::{EndpointExt, Route, get};
use sea_orm::DbBackend;

use crate::{
    auth::{cache::PrincipalCache, jwt::JwtKeys, password::PasswordHasher, throttle::Throttle},
    bootstrap,
    config::{GlobalArgs, ServeArgs},
    db::Db,
    error::Result,
    files::{
        self,
        import::{ImportConfig, Imports},
        slots::Slots,
    },
    health,
    listener::{self, ServerConfig},
    metrics,
    middleware::{BodyIdleTimeout, BodyLimit, ErrorEnvelope, InputGuard},
    openapi, origin, panel,
    realtime::{
        self, ConnTracker, asyncapi,
        cluster::Cluster,
        event::{Actor, CloseCode, EventType},
        hub::{Hub, Revoke},
        ws,
    },
    secret,
    storage::Storage,
};

/// Settings services need at run time.
#[derive(Debug, Clone)]
pub struct Settings {
    pub refresh_ttl_secs: u64,
    pub json_body_limit_bytes: usize,
    pub max_upload_bytes: u64,
    pub public_url: Option<String>,
    /// Extra origins allowed to open the WebSocket (normalised; see `origin.rs`).
    pub allowed_origins: Vec<String>,
    /// Origins allowed by CORS; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// A request body that stalls this long is answered 408.
    pub body_idle_timeout: Duration,
}

/// Shared state, injected into handlers with `Data<&AppState>`; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    /// Resolved sessions; on only where this process sees every write (SQLite).
    pub principals: PrincipalCache,
    pub user_throttle: Throttle,
    pub ip_throttle: Throttle,
    pub settings: Settings,
    pub hub: Hub,
    pub cluster: Cluster,
    pub realtime: realtime::Settings,
    pub ws_tracker: ConnTracker,
    pub storage: Storage,
    pub download_slots: Slots,
    /// URL import tasks of this instance.
    pub imports: Imports,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects, migrates, bootstraps the first admin, loads the JWT secret and starts the hub.
    pub async fn init(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Self> {
        let url = global.database_url();
        let db = Db::connect(&url, args.db_pool_size).await?;
        db.migrate().await?;
        let hasher = PasswordHasher::new(args.hash_concurrency)?;
        bootstrap::ensure_admin(&db, &hasher).await?;
        let secret = secret::jwt_secret(&global.data_dir, args.jwt_secret.as_deref())?;
        let window = Duration::from_secs(args.login_failure_window_secs);
        let realtime = realtime::Settings {
            auth_timeout: Duration::from_secs(args.ws_auth_timeout_secs),
            queue_capacity: args.ws_queue_capacity,
            retention_count: args.event_retention_count,
            retention_days: args.event_retention_days,
            sweep_interval: Duration::from_secs(args.event_sweep_interval_secs),
        };
        let cluster = Cluster::new(db.clone());
        let hub = Hub::start(db.clone(), realtime.queue_capacity, Some(cluster.clone())).await?;
        cluster.spawn_listener(url, hub.clone());
        realtime::spawn_sweeper(db.clone(), hub.clone(), realtime.clone());
        let cache_sessions = db.backend() == DbBackend::Sqlite;
        let storage = Storage::local(&global.data_dir)?;
        let removed = storage.clean_tmp()?;
        if removed > 0 {
            tracing::info!(removed, "removed temp files of interrupted uploads");
        }
        let imports = Imports::new(ImportConfig {
            allow_private: args.import_allow_private,
            concurrency: usize::try_from(args.import_concurrency).unwrap_or(usize::MAX),
            max_redirects: args.import_max_redirects,
            timeout: Duration::from_secs(args.import_timeout_secs),
        })?;
        let state = Self(Arc::new(Inner {
            jwt: JwtKeys::new(&secret, args.access_token_ttl_secs),
            principals: PrincipalCache::new(cache_sessions),
            hasher,
            user_throttle: Throttle::new(args.login_max_failures_per_user, window),
            ip_throttle: Throttle::new(args.login_max_failures_per_ip, window),
            settings: Settings {
                refresh_ttl_secs: args.refresh_token_ttl_secs,
                json_body_limit_bytes: args.json_body_limit_bytes,
                max_upload_bytes: args.max_upload_bytes,
                public_url: args.public_url.clone(),
                allowed_origins: origin::normalise_all(&args.allowed_origins),
                cors_origins: origin::normalise_all(&args.cors_origins),
                body_idle_timeout: Duration::from_secs(args.body_idle_timeout_secs),
            },
            hub,
            cluster,
            realtime,
            ws_tracker: ConnTracker::default(),
            storage,
            download_slots: Slots::default(),
            imports,
            db,
        }));
        files::service::spawn_sweeper(
            state.clone(),
            Duration::from_secs(args.file_sweep_interval_secs),
        );
        Ok(state)
    }

    /// State for CLI commands that reuse the services but never serve HTTP.
    pub async fn for_cli(
        db: Db,
        hasher: PasswordHasher,
        data_dir: &std::path::Path,
    ) -> Result<Self> {
        let storage = Storage::local(data_dir)?;
        let unused_secret = uuid::Uuid::new_v4().to_string();
        let window = Duration::from_secs(60);
        let cluster = Cluster::new(db.clone());
        Ok(Self(Arc::new(Inner {
            hub: Hub::start(db.clone(), 1, None).await?,
            cluster,
            jwt: JwtKeys::new(unused_secret.as_bytes(), 60),
            principals: PrincipalCache::new(false),
            hasher,
            user_throttle: Throttle::new(1, window),
            ip_throttle: Throttle::new(1, window),
            settings: Settings {
                refresh_ttl_secs: 60,
                json_body_limit_bytes: 1 << 20,
                max_upload_bytes: 0,
                public_url: None,
                allowed_origins: Vec::new(),
                cors_origins: Vec::new(),
                body_idle_timeout: Duration::from_secs(30),
            },
            realtime: realtime::Settings {
                auth_timeout: Duration::from_secs(10),
                queue_capacity: 1,
                retention_count: 100_000,
                retention_days: 7,
                sweep_interval: Duration::from_secs(60),
            },
            ws_tracker: ConnTracker::default(),
            storage,
            download_slots: Slots::default(),
            // The CLI never imports; the defaults of `serve`.
            imports: Imports::new(ImportConfig {
                allow_private: false,
                concurrency: 4,
                max_redirects: 5,
                timeout: Duration::from_secs(3600),
            })?,
            db,
        })))
    }

    /// After a commit that appended events up to `seq`: wake the hub (other instances hear it
    /// from the database notification sent inside the transaction).
    pub fn log_advanced(&self, seq: i64) {
        self.hub.log_advanced(seq);
    }

    /// Closes the sockets of a user or session, here and on every other instance.
    pub async fn revoke(&self, target: Revoke) {
        self.hub.revoke(target.clone());
        self.cluster.publish_revoke(&target).await;
    }

    /// Like [`publish`](Self::publish), but never waits: local delivery is immediate and the
    /// cross-instance notification (PostgreSQL only) goes out on its own task. For transfer
    /// progress, which must never slow a transfer down.
    pub fn publish_nowait(&self, kind: EventType, actor: Option<&Actor>, data: &serde_json::Value) {
        let text = realtime::event::frame_text(
            kind.as_str(),
            None,
            chrono::Utc::now(),
            actor,
            &data.to_string(),
        );
        self.hub.deliver_remote_ephemeral(kind, text.clone());
        if self.cluster.enabled() {
            let cluster = self.cluster.clone();
            tokio::spawn(async move { cluster.publish_ephemeral(kind, &text).await });
        }
    }

    /// Publishes an ephemeral event (progress, presence-like) here and on every other instance.
    pub async fn publish(&self, kind: EventType, actor: Option<&Actor>, data: &serde_json::Value) {
        let text = realtime::event::frame_text(
            kind.as_str(),
            None,
            chrono::Utc::now(),
            actor,
            &data.to_string(),
        );
        self.hub.deliver_remote_ephemeral(kind, text.clone());
        self.cluster.publish_ephemeral(kind, &text).await;
    }
}

/// The whole HTTP application.
pub fn routes(state: AppState) -> impl poem::Endpoint {
    let api = openapi::service();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let body_limit = BodyLimit {
        max_bytes: state.settings.json_body_limit_bytes,
    };
    // CORS only when configured: without it browsers keep other sites' pages out of the API.
    let api = api.with(body_limit).with_if(
        !state.settings.cors_origins.is_empty(),
        origin::cors(&state.settings.cors_origins),
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
            idle: state.settings.body_idle_timeout,
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
    let state = AppState::init(&global, &args).await?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, "listening");
    let db = state.db.clone();
    let (hub, tracker) = (state.hub.clone(), state.ws_tracker.clone());
    let shutdown = async move {
        shutdown.await;
        hub.close_all(CloseCode::GoingAway);
        tracker.drained(Duration::from_secs(2)).await;
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
