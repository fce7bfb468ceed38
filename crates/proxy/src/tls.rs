//! The TLS stage: a rustls server connection driven over the client's socket by
//! readiness, the way the HTTP/1 server drives a plain socket (try to read or write, and
//! wait for readiness only when the socket says it would block). rustls does the record
//! layer in memory; this file moves bytes between it and the socket.
use rustls::{ServerConfig, ServerConnection};
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A client connection after its TLS handshake.
pub struct TlsStream {
    pub tcp: TcpStream,
    conn: RefCell<ServerConnection>,
    /// Whether application data has been written. Until then, what rustls has to send
    /// after the handshake (the TLS 1.3 session ticket) waits for the first response, so
    /// that both leave in one write and reach the client in one read.
    replied: Cell<bool>,
    /// On a listener with client certificates: the header that carries the client's
    /// verified subject upstream, and that subject (`None`: no certificate).
    pub client_cert: Option<(http::HeaderName, Option<http::HeaderValue>)>,
}

/// The socket as rustls reads and writes it: without waiting.
struct Socket<'a>(&'a TcpStream);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.try_read(buf)?;
        if n > 0 && n < buf.len() {
            // A short read emptied the socket: forget its readiness (a closure failing with
            // WouldBlock makes `try_io` clear it, without a syscall), so that the next read
            // waits for the peer instead of trying a read that would block. New bytes, or
            // the peer's FIN, mark it ready again.
            let _ = self.0.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
        }
        Ok(n)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Runs the handshake on `tcp`; the caller bounds it in time.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        TlsStream::handshake(tcp, conn).await
    }

    /// Runs the handshake with the configuration `choose` picks for the name the client
    /// asks for (SNI), once its hello has arrived: hosts that ask for client certificates
    /// have configurations of their own.
    pub async fn accept_choosing(
        tcp: TcpStream,
        choose: impl FnOnce(Option<&str>) -> Arc<ServerConfig>,
    ) -> io::Result<TlsStream> {
        let mut acceptor = rustls::server::Acceptor::default();
        let accepted = loop {
            match acceptor.read_tls(&mut Socket(&tcp)) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tcp.readable().await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            match acceptor.accept() {
                Ok(Some(accepted)) => break accepted,
                Ok(None) => {}
                Err((e, mut alert)) => {
                    let _ = alert.write(&mut Socket(&tcp));
                    return Err(tls_error(e));
                }
            }
        };
        let config = choose(accepted.client_hello().server_name());
        let conn = accepted.into_connection(config).map_err(|(e, mut alert)| {
            let _ = alert.write(&mut Socket(&tcp));
            tls_error(e)
        })?;
        TlsStream::handshake(tcp, conn).await
    }

    async fn handshake(tcp: TcpStream, conn: ServerConnection) -> io::Result<TlsStream> {
        let stream = TlsStream { tcp, conn: RefCell::new(conn), replied: Cell::new(false), client_cert: None };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let done = {
                let conn = self.conn.borrow();
                // TLS 1.3: what is left after the handshake is the session ticket, which
                // can wait for the first response (one write, and one read for the
                // client, fewer). TLS 1.2: the server's Finished, which the client waits for.
                !conn.is_handshaking() && conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
            };
            if done {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_flush(cx))?;
            let mut conn = self.conn.borrow_mut();
            if !conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            match conn.read_tls(&mut Socket(&self.tcp)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        // The alert that says why goes out before the connection closes.
                        let _ = conn.write_tls(&mut Socket(&self.tcp));
                        return Poll::Ready(Err(tls_error(e)));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(conn);
                    ready!(self.tcp.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// The protocol agreed by ALPN, if any.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.conn.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The subject of the certificate the client presented (verified by the handshake).
    pub fn client_subject(&self) -> Option<String> {
        let conn = self.conn.borrow();
        forecourt_tls::subject(conn.peer_certificates()?.first()?)
    }

    /// The name the client asked for (SNI).
    pub fn server_name(&self) -> Option<String> {
        self.conn.borrow().server_name().map(str::to_string)
    }

    /// Reads decrypted bytes without waiting: `Ok(0)` at the end of the stream,
    /// `WouldBlock` when none are there yet.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut conn = self.conn.borrow_mut();
        loop {
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // The peer closed the socket without close_notify: for a server, the end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if conn.read_tls(&mut Socket(&self.tcp))? == 0 {
                return Ok(0);
            }
            if let Err(e) = conn.process_new_packets() {
                let _ = conn.write_tls(&mut Socket(&self.tcp));
                return Err(tls_error(e));
            }
            // A key update to answer (before the first response, only the ticket waits).
            if self.replied.get() && conn.wants_write() {
                let _ = conn.write_tls(&mut Socket(&self.tcp));
            }
        }
    }

    /// Whether decrypted bytes (or the end of the stream) wait to be read, else whether the
    /// socket is readable.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.conn.borrow_mut().process_new_packets() {
            Ok(state) if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() => {
                return Poll::Ready(Ok(()));
            }
            // The read reports it.
            Err(_) => return Poll::Ready(Ok(())),
            Ok(_) => {}
        }
        self.tcp.poll_read_ready(cx)
    }

    /// Encrypts what it can take of `bufs` (rustls buffers a bounded amount) and sends
    /// it, with any records waiting before it, in one write; `WouldBlock` when nothing
    /// could be taken.
    pub fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut conn = self.conn.borrow_mut();
        self.replied.set(true);
        let wanted = bufs.iter().any(|b| !b.is_empty());
        let mut n = conn.writer().write_vectored(bufs)?;
        if n == 0 && wanted {
            // rustls's buffer is full of earlier records: they go first.
            flush(&mut conn, &self.tcp)?;
            n = conn.writer().write_vectored(bufs)?;
        }
        match flush(&mut conn, &self.tcp) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if n == 0 && wanted {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Encrypts what rustls's bounded buffer takes of `bufs`, leaving it for
    /// [`TlsStream::poll_flush`] to send: `Ok(0)` when the buffer is full.
    pub fn buffer(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.replied.set(true);
        self.conn.borrow_mut().writer().write_vectored(bufs)
    }

    /// Ready when [`TlsStream::send`] may be called: once what rustls holds has gone to
    /// the socket, except before the first response, whose write carries what waits.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.replied.get() {
            return Poll::Ready(Ok(()));
        }
        self.poll_flush(cx)
    }

    /// Ready when every encrypted byte has gone to the socket.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match flush(&mut self.conn.borrow_mut(), &self.tcp) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.tcp.poll_write_ready(cx))?,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Says close_notify and shuts the socket for writing (best effort: what the socket
    /// cannot take now is dropped).
    pub fn shutdown_write(&self) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        conn.send_close_notify();
        let _ = flush(&mut conn, &self.tcp);
        socket2::SockRef::from(&self.tcp).shutdown(std::net::Shutdown::Write)
    }
}

/// Writes the encrypted bytes rustls holds to the socket, until none are left or the
/// socket would block.
fn flush(conn: &mut ServerConnection, tcp: &TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        if conn.write_tls(&mut Socket(tcp))? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}
