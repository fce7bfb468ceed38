//! A client connection's byte stream, plain or TLS, behind the readiness calls the HTTP
//! servers use: try to read or write, and wait for readiness only when that would block.
//! The plain case is the socket's own calls, one branch away.
use crate::tls::TlsStream;
use bytes::BytesMut;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// How much is read from a client connection at a time (a request head, usually).
pub const READ_CHUNK: usize = 8192;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.tcp,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nodelay(on)
    }

    /// Reads what is there into the spare capacity of `buf`, without waiting.
    ///
    /// A plain read that returns less than it had room for has emptied the socket, and
    /// with edge-triggered epoll nothing more can be there before the next event: the
    /// readiness is forgotten at once, so that waiting for the next request costs no read
    /// failing with EAGAIN (nginx does the same). This is sound because the worker's
    /// runtime is single-threaded: no event can be taken in between.
    pub fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => {
                let room = buf.capacity() - buf.len();
                let n = stream.try_read_buf(buf)?;
                if n > 0 && n < room {
                    // A closure failing with WouldBlock makes `try_io` clear the readiness
                    // it saw; a peer's FIN, once seen, is never cleared.
                    let _ = stream.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
                }
                Ok(n)
            }
            Transport::Tls(tls) => {
                // A read into no room would look like the end of the stream.
                if buf.capacity() == buf.len() {
                    buf.reserve(READ_CHUNK);
                }
                let start = buf.len();
                buf.resize(buf.capacity(), 0);
                let read = tls.try_read(&mut buf[start..]);
                buf.truncate(start + *read.as_ref().unwrap_or(&0));
                read
            }
        }
    }

    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_read(buf),
            Transport::Tls(t) => t.try_read(buf),
        }
    }

    /// Writes what the connection takes of `bufs` without waiting. `more`: more follows
    /// at once (only the close), so a plain socket may hold the last partial segment back
    /// to send it with the FIN.
    pub fn send(&self, bufs: &[IoSlice<'_>], more: bool) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => {
                let flags = if more { libc::MSG_MORE } else { 0 };
                stream
                    .try_io(Interest::WRITABLE, || socket2::SockRef::from(stream).send_vectored_with_flags(bufs, flags))
            }
            Transport::Tls(t) => t.send(bufs),
        }
    }

    /// Sends up to `len` bytes of `file` from `*offset` (advanced by what went) on a plain
    /// socket with `sendfile(2)`: the kernel takes the file's pages, no copy through user
    /// space. `None` on TLS, whose records must be made from the bytes.
    pub fn send_file(&self, file: &std::fs::File, offset: &mut u64, len: u64) -> Option<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let Transport::Plain(stream) = self else { return None };
        Some(stream.try_io(Interest::WRITABLE, || {
            let mut at = *offset as libc::off_t;
            let count = len.min(1 << 30) as usize;
            // SAFETY: both descriptors are open for the call (borrowed from live owners),
            // and `at` is a valid off_t the kernel advances.
            let sent = unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut at, count) };
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
            *offset = at as u64;
            Ok(sent as usize)
        }))
    }

    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        self.send(&[IoSlice::new(data)], false)
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Plain(s) => s.poll_read_ready(cx),
            Transport::Tls(t) => t.poll_read_ready(cx),
        }
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Plain(s) => s.poll_write_ready(cx),
            Transport::Tls(t) => t.poll_write_ready(cx),
        }
    }

    /// Ready when everything written has reached the socket (always, for a plain one).
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Plain(_) => Poll::Ready(Ok(())),
            Transport::Tls(t) => t.poll_flush(cx),
        }
    }

    /// `AsyncRead::poll_read` through a shared reference (for a connection that several
    /// holders share, as the HTTP/1 server's is): readiness, then a read.
    pub fn poll_read_shared(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_read_ready(cx))?;
            match self.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Ends our side of the stream (TLS: close_notify first), while reading goes on.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write),
            Transport::Tls(t) => t.shutdown_write(),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            tls => tls.poll_read_shared(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            // Buffered in rustls until the writer flushes (hyper and the tunnel copy do),
            // so that a burst of frames costs one write to the socket.
            Transport::Tls(t) => loop {
                match t.buffer(bufs)? {
                    0 if bufs.iter().any(|b| !b.is_empty()) => ready!(t.poll_flush(cx))?,
                    n => return Poll::Ready(Ok(n)),
                }
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Transport::poll_flush(&self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Transport::poll_flush(&self, cx))?;
        Poll::Ready(self.shutdown_write())
    }
}
