//! The HTTP server loop: accepts TCP connections (`TCP_NODELAY`: small WebSocket frames and JSON
//! responses must not wait for Nagle's algorithm; a pause instead of a busy loop when `accept`
//! fails, for example out of file descriptors) and serves each with hyper's HTTP/1.1 connection,
//! upgrades (WebSocket) included, then shuts down gracefully.
//!
//! This replaces poem's `Server`, which gives hyper no timer and so no header-read timeout: a
//! client sending its request head a byte at a time (slow loris), or opening connections and
//! sending nothing, would hold a connection forever. Here hyper closes a connection whose request
//! head is not complete `--header-read-timeout-secs` after it started waiting for one (which
//! also ends idle keep-alive connections). Stalled request bodies are cut off by
//! `middleware::BodyIdleTimeout`. Only HTTP/1.1 is spoken: poem's HTTP/2 prior knowledge was
//! never used and hyper has no header timeout for it.

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::{
    Endpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_util::sync::CancellationToken;

/// Connection limits and shutdown settings.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// Time in-flight requests get after the shutdown signal.
    pub shutdown_grace: Duration,
}

/// Serves `ep` on `listener` until `shutdown` resolves; then stops accepting, lets in-flight
/// requests finish (idle connections close at once) for up to `shutdown_grace`, and returns.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let ep = Arc::new(ep);
    let local_addr = LocalAddr(listener.local_addr()?.into());
    let graceful = CancellationToken::new();
    let force = CancellationToken::new();
    // Every connection task holds a sender: `recv` returns `None` once all of them ended.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (io, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = io.set_nodelay(true);
        let conn = Conn {
            ep: ep.clone(),
            local_addr: local_addr.clone(),
            remote_addr: RemoteAddr(addr.into()),
            header_read_timeout: config.header_read_timeout,
        };
        let (graceful, force, alive) = (graceful.clone(), force.clone(), alive.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = conn.serve(io, graceful) => {}
                () = force.cancelled() => {}
            }
            drop(alive);
        });
    }
    drop(listener);
    graceful.cancel();
    drop(alive);
    if tokio::time::timeout(config.shutdown_grace, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period: cut off");
        force.cancel();
        let _ = all_closed.recv().await;
    }
    Ok(())
}

struct Conn<E> {
    ep: Arc<E>,
    local_addr: LocalAddr,
    remote_addr: RemoteAddr,
    header_read_timeout: Duration,
}

impl<E: Endpoint + 'static> Conn<E> {
    async fn serve(self, io: TcpStream, graceful: CancellationToken) {
        let Conn {
            ep,
            local_addr,
            remote_addr,
            header_read_timeout,
        } = self;
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let ep = ep.clone();
            let req =
                poem::Request::from((req, local_addr.clone(), remote_addr.clone(), Scheme::HTTP));
            async move { Ok::<_, Infallible>(hyper::Response::from(ep.get_response(req).await)) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let done = tokio::select! {
            result = conn.as_mut() => Some(result),
            () = graceful.cancelled() => None,
        };
        let result = match done {
            Some(result) => result,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            // Timeouts, resets and malformed requests: the client's problem, not ours.
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
