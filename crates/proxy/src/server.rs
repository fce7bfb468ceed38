//! Workers: one OS thread per core, each with its own single-threaded runtime, its own
//! `SO_REUSEPORT` listener sockets and its own upstream pool (the nginx model). A lone
//! worker runs on the control thread instead (see `forecourt::lifecycle`).
//!
//! A worker follows two signals from the control thread: the set of listen addresses
//! (changed by reloads) and shutdown (stop accepting, let connections finish).
use crate::conn::Conn;
use crate::defer_accept::DeferAccept;
use crate::h1::Limits;
use crate::h2_abuse;
use crate::metrics::{set_worker_shard, Metrics};
use crate::runtime::{Runtime, TlsListener};
use crate::tls::TlsStream;
use crate::transport::Transport;
use crate::worker::Worker;
use arc_swap::ArcSwap;
use bytes::BytesMut;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Signals from the control thread to every worker.
#[derive(Clone)]
pub struct WorkerSignals {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub listeners: watch::Receiver<Vec<SocketAddr>>,
    pub shutdown: watch::Receiver<bool>,
    /// The process's metrics (`ProcessState::metrics`).
    pub metrics: &'static Metrics,
    /// Run on each worker thread once a second (the binary returns freed memory with it).
    pub housekeeping: Option<fn()>,
}

/// Starts worker `id` on its own thread. The thread ends once shutdown has been signalled
/// and its last connection has closed. Its runtime is built here, so that a process out of
/// file descriptors (each runtime takes a few) says so at start instead of panicking.
pub fn spawn_worker(id: usize, signals: WorkerSignals) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(format!("forecourt-w{id}")).spawn(move || {
        let local = tokio::task::LocalSet::new();
        // The worker runs as a task: `block_on` polls its own future on every turn of the
        // loop, and a join handle is cheaper to poll than the worker's signal select.
        local.block_on(&rt, async move {
            let _ = tokio::task::spawn_local(run_worker(id, signals)).await;
        });
    })
}

/// Runs worker `id` on the calling thread, inside a `LocalSet`; it returns once shutdown
/// has been signalled and its last connection has closed.
pub async fn run_worker(id: usize, signals: WorkerSignals) {
    set_worker_shard(id);
    let WorkerSignals { runtime, mut listeners, mut shutdown, metrics, housekeeping } = signals;
    let worker = Worker::new(id, runtime, metrics);
    tokio::task::spawn_local(housekeep(worker.clone(), shutdown.clone(), housekeeping));

    // Accept loops by address; dropping the sender stops the loop and closes the socket.
    let mut accepting: HashMap<SocketAddr, oneshot::Sender<()>> = HashMap::new();
    loop {
        let wanted = listeners.borrow_and_update().clone();
        accepting.retain(|addr, _| wanted.contains(addr));
        for addr in wanted {
            if accepting.contains_key(&addr) {
                continue;
            }
            match bind(addr) {
                Ok(listener) => {
                    let (stop, stopped) = oneshot::channel();
                    tokio::task::spawn_local(accept_loop(worker.clone(), listener, addr, stopped));
                    accepting.insert(addr, stop);
                }
                Err(e) => tracing::error!(%addr, error = %e, worker = id, "cannot listen"),
            }
        }
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = listeners.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => {}
        }
    }
    drop(accepting);
    worker.drain.start();
    while worker.open_connections.get() > 0 {
        worker.all_closed.notified().await;
    }
}

/// A listening socket that shares its address with the other workers' (`SO_REUSEPORT`).
/// It accepts eagerly until its accept loop finds it busy (`defer_accept`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(worker: Rc<Worker>, listener: TcpListener, addr: SocketAddr, mut stop: oneshot::Receiver<()>) {
    let mut defer = DeferAccept::new(Instant::now());
    loop {
        // `poll_accept` rather than `accept()`: the latter's readiness future takes a lock
        // and joins a waiter list on every call, a cost paid per connection.
        let next = std::future::poll_fn(|cx| {
            if Pin::new(&mut stop).poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            listener.poll_accept(cx).map(Some)
        });
        match next.await {
            None => return,
            Some(Ok((stream, peer))) => {
                defer.accepted(&listener, Instant::now());
                // Admitted here, before a task is made for the connection (a flood of
                // refused ones costs an accept and a reset each), unless the PROXY
                // protocol has yet to name the client.
                let rt = worker.snapshot();
                let admitted = match rt.proxy_protocol.contains(&addr) {
                    true => None,
                    false => match rt.admit(addr, peer.ip()) {
                        Some(admitted) => Some(admitted),
                        None => {
                            refuse(stream);
                            continue;
                        }
                    },
                };
                tokio::task::spawn_local(serve_connection(worker.clone(), rt, stream, peer, addr, admitted));
            }
            Some(Err(e)) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Once a second: drop expired pooled connections, and run the binary's hook.
async fn housekeep(worker: Rc<Worker>, mut shutdown: watch::Receiver<bool>, hook: Option<fn()>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|&s| s) => return,
        }
        let snapshot = worker.snapshot();
        worker.pool.sweep(snapshot.longest_upstream_idle(), |addr| snapshot.has_endpoint(addr));
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection(Rc<Worker>);

impl OpenConnection {
    fn new(worker: Rc<Worker>) -> Self {
        worker.open_connections.set(worker.open_connections.get() + 1);
        worker.metrics.active_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(worker)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let w = &self.0;
        w.open_connections.set(w.open_connections.get() - 1);
        w.metrics.active_connections.fetch_sub(1, Ordering::Relaxed);
        if w.open_connections.get() == 0 {
            w.all_closed.notify_waiters();
        }
    }
}

/// The TLS handshake on a listener with `tls = true`, with the configuration for the name
/// the client asks for; `None` when it failed or took longer than `timeout` (counted).
async fn tls_handshake(
    metrics: &Metrics,
    rt: &Runtime,
    on: &TlsListener,
    stream: TcpStream,
    timeout: Duration,
    peer: SocketAddr,
) -> Option<TlsStream> {
    let tls = rt.tls.as_ref()?;
    let mut header = on.client_cert_header.clone();
    let handshake = async {
        if tls.host_client_certs.is_empty() {
            return TlsStream::accept(stream, on.config.clone()).await;
        }
        TlsStream::accept_choosing(stream, |sni| match sni.and_then(|name| tls.client_certs_for(name)) {
            Some(i) => {
                header.clone_from(&tls.host_client_certs[i].client_cert_header);
                tls.host_client_certs[i].config.clone()
            }
            None => on.config.clone(),
        })
        .await
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(mut stream)) => {
            stream.client_cert = header.map(|name| {
                let subject = stream.client_subject().and_then(|s| http::HeaderValue::from_str(&s).ok());
                (name, subject)
            });
            Some(stream)
        }
        failed => {
            metrics.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
            if let Ok(Err(e)) = failed {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
            }
            None
        }
    }
}

/// Closes a connection refused at accept with a reset, as HAProxy's `tcp-request
/// connection reject` does: no FIN exchange, and no TIME_WAIT left behind for a client
/// that is refused over and over.
fn refuse(stream: TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Serves a connection accepted on `listener`; `admitted` is what its admission holds, or
/// `None` where it is yet to be admitted (behind the PROXY protocol).
async fn serve_connection(
    worker: Rc<Worker>,
    rt: Arc<Runtime>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: SocketAddr,
    admitted: Option<Vec<crate::admission::Admitted>>,
) {
    let _open = OpenConnection::new(worker.clone());
    let limits = Limits::of(&rt.settings.client);
    // With the PROXY protocol the client is the one the balancer's header names; only a
    // trusted balancer may send one, and a connection without a valid one is closed.
    let peer = match rt.proxy_protocol.contains(&listener) {
        false => peer,
        true if !rt.settings.trusted_proxies.contains(peer.ip()) => return,
        true => match Box::pin(crate::proxy_protocol::read(&stream, peer, limits.header_timeout)).await {
            Some(client) => client,
            None => return,
        },
    };
    // What the listener's admissions hold for the connection's life (dropped when this
    // function returns); a refused connection is closed before a byte of the request is
    // read or a handshake begins.
    let admitted = admitted.or_else(|| rt.admit(listener, peer.ip()));
    let Some(_admitted) = admitted else { return refuse(stream) };
    let (limits, mut stream) = {
        // The snapshot is let go once the handshake is done: requests take their own.
        let rt = rt;
        match rt.tls_on(listener) {
            None => (limits, Transport::Plain(stream)),
            // Boxed, as every large stage is: the task of a connection keeps room for its
            // largest state all its life, and a handshake's is kilobytes that an idle
            // connection should not carry.
            Some(on) => {
                match Box::pin(tls_handshake(worker.metrics, &rt, on, stream, limits.header_timeout, peer)).await {
                    Some(tls) => (limits, Transport::Tls(Box::new(tls))),
                    None => return,
                }
            }
        }
    };
    if let Transport::Tls(tls) = &stream {
        let alpn = tls.alpn();
        if alpn.as_deref() == Some(forecourt_tls::auto::ACME_TLS_ALPN) {
            // A TLS-ALPN-01 validation: the handshake was the answer (RFC 8737 §3).
            return;
        }
        if alpn.as_deref() == Some(b"h2") {
            let _ = stream.set_nodelay(true);
            let conn = conn_facts(peer, &stream);
            return Box::pin(crate::h2::serve(worker, stream, conn, BytesMut::new(), limits)).await;
        }
    }

    // Read the first bytes to tell HTTP/2 prior knowledge from HTTP/1; they are handed on.
    let mut first = BytesMut::with_capacity(crate::transport::READ_CHUNK);
    loop {
        // Usually the request is already here: read it without arming a timer.
        let read = match stream.read_buf(&mut first) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::time::timeout(limits.header_timeout, async {
                    stream.readable().await?;
                    stream.read_buf(&mut first)
                })
                .await
            }
            now => Ok(now),
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            _ => return,
        }
        let n = first.len().min(H2_PREFACE.len());
        if first[..n] != H2_PREFACE[..n] || n == H2_PREFACE.len() {
            break;
        }
    }
    if !first.starts_with(H2_PREFACE) && first.starts_with(h2_abuse::PREFACE_LINE) {
        // An HTTP/2 client whose preface is wrong: a connection error (RFC 9113 §3.4),
        // answered in its protocol rather than as a malformed HTTP/1 request.
        crate::h2::record_cutoff(&worker, peer.ip(), h2_abuse::Cutoff::BadPreface);
        let _ = tokio::time::timeout(
            limits.send_timeout,
            tokio::io::AsyncWriteExt::write_all(&mut stream, &h2_abuse::GOAWAY_PROTOCOL_ERROR),
        )
        .await;
        return;
    }
    let conn = conn_facts(peer, &stream);
    if first.starts_with(H2_PREFACE) {
        let _ = stream.set_nodelay(true);
        // Boxed: an HTTP/2 connection's state is large, and idle HTTP/1 tasks should not
        // carry room for it.
        Box::pin(crate::h2::serve(worker, stream, conn, first, limits)).await
    } else {
        crate::h1::serve(worker, stream, conn, first, limits, (_open, _admitted)).await
    }
}

/// What the later stages know of a connection: its peer, and what its handshake settled.
fn conn_facts(peer: SocketAddr, transport: &Transport) -> Conn {
    match transport {
        Transport::Tls(t) => Conn {
            client_cert: t.client_cert.clone().map(Box::new),
            ..Conn::new(peer, true, t.server_name().map(String::into_boxed_str))
        },
        Transport::Plain(_) => Conn::new(peer, false, None),
    }
}
