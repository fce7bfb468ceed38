//! After a `101 Switching Protocols`: the client connection and the upstream's upgraded
//! connection are joined, and bytes are copied both ways until either side closes.
use super::inbound::Shared;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Joins the client (whose socket may still be shared with a finished request body) to
/// the upstream side of the upgrade.
pub(super) async fn tunnel(shared: Rc<Shared>, upstream: OnUpgrade) {
    let upstream = match upstream.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            tracing::debug!(error = %e, "upstream upgrade did not complete");
            return;
        }
    };
    let mut upstream = TokioIo::new(upstream);
    // Bytes the client sent right after its request already belong to the new protocol.
    let early = std::mem::take(&mut shared.inbound.borrow_mut().buf);
    if !early.is_empty() && upstream.write_all(&early).await.is_err() {
        return;
    }
    // Tunnelled protocols are interactive: no Nagle delay.
    let _ = shared.stream.set_nodelay(true);
    let mut client = ClientSide(shared);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The client socket as a byte stream, through its readiness API (it is shared, not owned).
struct ClientSide(Rc<Shared>);

impl AsyncRead for ClientSide {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // The copy loop hands in an initialised buffer, so initialising costs nothing there.
        self.0.stream.poll_read_shared(cx, buf)
    }
}

impl AsyncWrite for ClientSide {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let stream = &self.0.stream;
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_write(data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.0.stream.poll_flush(cx))?;
        // A tunnelled protocol may rely on half-close.
        Poll::Ready(self.0.shut_write())
    }
}
