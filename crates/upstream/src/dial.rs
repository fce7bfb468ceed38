//! Opening connections to a server: TCP within the connect timeout, TLS for `https://`
//! servers, and hyper's HTTP/1.1 and HTTP/2 handshakes. Each opening is a future that
//! owns what it needs: it may outlive the request that started it (`pacing::paced`: a
//! request takes a connection given back meanwhile, and its opening goes on to join the
//! pool). A failure counts for the pool and the server.
use crate::counters::PoolCounters;
use crate::endpoint::Endpoint;
use crate::error::UpstreamError;
use crate::group::UpstreamTimeouts;
use crate::local_exec::LocalExec;
use crate::state::EndpointState;
use crate::tls::EndpointTls;
use hyper::body::Body;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TCP connection to `ep` within the connect timeout.
pub(crate) fn connect(
    ep: &Endpoint,
    t: &UpstreamTimeouts,
    counters: &Arc<PoolCounters>,
) -> impl Future<Output = Result<TcpStream, UpstreamError>> + 'static {
    let (addr, state, timeout, counters) = (ep.addr, ep.state.clone(), t.connect, counters.clone());
    async move {
        let failed = |e| {
            counters.connect_errors.fetch_add(1, Ordering::Relaxed);
            state.connect_errors.fetch_add(1, Ordering::Relaxed);
            e
        };
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(failed(UpstreamError::ConnectTimeout)),
            Ok(Err(e)) => return Err(failed(UpstreamError::Connect(e))),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// A new HTTP/1.1 connection to `ep` (over TLS for an `https://` server), ready for hyper.
pub(crate) fn open_h1<B>(
    ep: &Endpoint,
    t: &UpstreamTimeouts,
    counters: &Arc<PoolCounters>,
) -> impl Future<Output = Result<http1::SendRequest<B>, UpstreamError>> + 'static
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (tcp, tls) = (connect(ep, t, counters), TlsDial::of(ep, t, counters));
    async move {
        let stream = tcp.await?;
        match tls {
            None => h1_handshake(TokioIo::new(stream)).await,
            Some(tls) => h1_handshake(TokioIo::new(tls.handshake(stream).await?)).await,
        }
    }
}

/// A new HTTP/2 connection to `ep` (h2c, or h2 over TLS).
pub(crate) fn open_h2<B>(
    ep: &Endpoint,
    t: &UpstreamTimeouts,
    counters: &Arc<PoolCounters>,
) -> impl Future<Output = Result<http2::SendRequest<B>, UpstreamError>> + 'static
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (tcp, tls) = (connect(ep, t, counters), TlsDial::of(ep, t, counters));
    async move {
        let stream = tcp.await?;
        match tls {
            None => h2_handshake(TokioIo::new(stream)).await,
            Some(tls) => h2_handshake(TokioIo::new(tls.handshake(stream).await?)).await,
        }
    }
}

/// What a TLS handshake with an `https://` server needs, owned.
struct TlsDial {
    tls: EndpointTls,
    label: String,
    state: Arc<EndpointState>,
    timeout: Duration,
    counters: Arc<PoolCounters>,
}

impl TlsDial {
    fn of(ep: &Endpoint, t: &UpstreamTimeouts, counters: &Arc<PoolCounters>) -> Option<TlsDial> {
        let tls = ep.tls.clone()?;
        let (label, state, timeout, counters) = (ep.label.clone(), ep.state.clone(), t.connect, counters.clone());
        Some(TlsDial { tls, label, state, timeout, counters })
    }

    /// The handshake within the connect timeout; a failure counts as a failed connection
    /// (the server saw no request, so another may be tried).
    async fn handshake(self, stream: TcpStream) -> Result<TlsStream<TcpStream>, UpstreamError> {
        let failed = |e: std::io::Error| {
            self.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
            self.state.connect_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(server = %self.label, error = %e, "TLS handshake with upstream failed");
            UpstreamError::Connect(e)
        };
        let name = self.tls.name.clone().ok_or_else(|| failed(std::io::Error::other("no server name to verify")))?;
        match tokio::time::timeout(self.timeout, self.tls.upstream.connector.connect(name, stream)).await {
            Err(_) => Err(UpstreamError::ConnectTimeout),
            Ok(result) => result.map_err(failed),
        }
    }
}

async fn h1_handshake<I, B>(io: I) -> Result<http1::SendRequest<B>, UpstreamError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(UpstreamError::Exchange)?;
    tokio::task::spawn_local(conn.with_upgrades());
    Ok(sender)
}

async fn h2_handshake<I, B>(io: I) -> Result<http2::SendRequest<B>, UpstreamError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let handshake = http2::Builder::new(LocalExec).timer(hyper_util::rt::TokioTimer::new()).handshake(io);
    let (sender, conn) = handshake.await.map_err(UpstreamError::Exchange)?;
    tokio::task::spawn_local(conn);
    Ok(sender)
}
