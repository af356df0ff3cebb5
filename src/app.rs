//! Application state, the route table, and `serve`: the one seam tests and `main` share.

use std::{future::Future, ops::Deref, sync::Arc, time::Duration};

use poem::{
    EndpointExt, Route, Server, get,
    listener::{Acceptor, TcpAcceptor},
};

use sea_orm::DbBackend;

use crate::{
    auth::{cache::PrincipalCache, jwt::JwtKeys, password::PasswordHasher, throttle::Throttle},
    bootstrap,
    config::{GlobalArgs, ServeArgs},
    db::Db,
    health,
    middleware::{BodyLimit, ErrorEnvelope},
    openapi, secret,
};

/// Settings services need at run time.
#[derive(Debug, Clone)]
pub struct Settings {
    pub refresh_ttl_secs: u64,
    pub json_body_limit_bytes: usize,
    pub max_upload_bytes: u64,
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
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects, migrates, bootstraps the first admin and loads the JWT secret.
    pub async fn init(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Self> {
        let db = Db::connect(&global.database_url(), args.db_pool_size).await?;
        let cache_sessions = db.backend() == DbBackend::Sqlite;
        db.migrate().await?;
        let hasher = PasswordHasher::new(args.hash_concurrency)?;
        bootstrap::ensure_admin(&db, &hasher).await?;
        let secret = secret::jwt_secret(&global.data_dir, args.jwt_secret.as_deref())?;
        let window = Duration::from_secs(args.login_failure_window_secs);
        Ok(Self(Arc::new(Inner {
            db,
            jwt: JwtKeys::new(&secret, args.access_token_ttl_secs),
            principals: PrincipalCache::new(cache_sessions),
            hasher,
            user_throttle: Throttle::new(args.login_max_failures_per_user, window),
            ip_throttle: Throttle::new(args.login_max_failures_per_ip, window),
            settings: Settings {
                refresh_ttl_secs: args.refresh_token_ttl_secs,
                json_body_limit_bytes: args.json_body_limit_bytes,
                max_upload_bytes: args.max_upload_bytes,
            },
        })))
    }
}

impl AppState {
    /// State for CLI commands that reuse the services but never serve HTTP.
    pub fn for_cli(db: Db, hasher: PasswordHasher) -> Self {
        let unused_secret = uuid::Uuid::new_v4().to_string();
        let window = Duration::from_secs(60);
        Self(Arc::new(Inner {
            db,
            jwt: JwtKeys::new(unused_secret.as_bytes(), 60),
            principals: PrincipalCache::new(false),
            hasher,
            user_throttle: Throttle::new(1, window),
            ip_throttle: Throttle::new(1, window),
            settings: Settings {
                refresh_ttl_secs: 60,
                json_body_limit_bytes: 1 << 20,
                max_upload_bytes: 0,
            },
        }))
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
    Route::new()
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .nest("/api", api.with(body_limit))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .with(ErrorEnvelope)
        .data(state)
}

/// Runs the server on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// (bounded by `--shutdown-grace-secs`).
pub async fn serve(
    global: GlobalArgs,
    args: ServeArgs,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::init(&global, &args).await?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied());
    let shown = addr.map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(addr = %shown, "listening");
    let db = state.db.clone();
    Server::new_with_acceptor(acceptor)
        .name("switchboard")
        .run_with_graceful_shutdown(
            routes(state),
            shutdown,
            Some(Duration::from_secs(args.shutdown_grace_secs)),
        )
        .await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}
