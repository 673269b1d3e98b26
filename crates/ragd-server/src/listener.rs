//! The main listener, which a draining server closes a moment before it closes its connections.
//!
//! At the end of the drain the listening socket is closed first: a proxy's new connection is
//! then refused, which nginx retries on another instance whatever the method, while a request
//! already travelling down a connection that was just accepted is still read and answered during
//! [`CLOSE_GRACE`]. Only then do the open connections close. Closing both at once (what
//! `with_graceful_shutdown` alone does) dropped such a request, which nginx answers 502 for a POST.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long requests on connections accepted just before the listener closed get to arrive.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// A [`TcpListener`] that stops accepting, and closes its socket, when `close` is cancelled.
pub(crate) struct ClosingListener {
    listener: Option<TcpListener>,
    close: CancellationToken,
    addr: SocketAddr,
}

impl ClosingListener {
    pub(crate) fn new(listener: TcpListener, close: CancellationToken) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        Ok(Self {
            listener: Some(listener),
            close,
            addr,
        })
    }
}

impl axum::serve::Listener for ClosingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return std::future::pending().await;
            };
            // Accept first: a connection already in the kernel's queue when the close comes is
            // accepted and answered, not reset with the socket (nginx may have sent a POST down
            // it, which it cannot retry). The socket closes once the queue is empty.
            let accepted = tokio::select! {
                biased;
                accepted = listener.accept() => Some(accepted),
                () = self.close.cancelled() => None,
            };
            match accepted {
                None => self.listener = None, // dropped: the socket is closed
                Some(Ok(connection)) => return connection,
                // Too many open files and the like: wait instead of spinning (as axum does).
                Some(Err(err)) => {
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
