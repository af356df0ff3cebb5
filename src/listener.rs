//! The TCP acceptor: poem's, plus `TCP_NODELAY` (small WebSocket frames and JSON responses must
//! not wait for Nagle's algorithm) and a pause instead of a busy loop when `accept` fails (for
//! example out of file descriptors).

use std::time::Duration;

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::net::{TcpListener, TcpStream};

pub struct NoDelayAcceptor {
    local_addr: LocalAddr,
    listener: TcpListener,
}

impl NoDelayAcceptor {
    pub fn new(listener: TcpListener) -> std::io::Result<Self> {
        let local_addr = LocalAddr(listener.local_addr()?.into());
        Ok(Self {
            local_addr,
            listener,
        })
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![self.local_addr.clone()]
    }

    async fn accept(&mut self) -> std::io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            match self.listener.accept().await {
                Ok((io, addr)) => {
                    let _ = io.set_nodelay(true);
                    return Ok((
                        io,
                        self.local_addr.clone(),
                        RemoteAddr(addr.into()),
                        Scheme::HTTP,
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
