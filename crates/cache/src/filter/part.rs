//! What of a response body the client gets, and what is read on without it: a 304 or a
//! HEAD made from a whole response gets none of it, a range cut from the whole
//! (`range_fill.rs`) gets its part. The rest is read on in a task of its own — into the
//! store when the whole is being stored (its tee is inside), otherwise only as far as a
//! small body goes, so that the upstream connection can be used again — and then dropped.
use bytes::Bytes;
use forecourt_proxy::body::{BoxError, ProxyBody};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The bytes of the whole that the client gets: those before `skip` are dropped, then
/// `take` go to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    skip: u64,
    take: u64,
}

impl Window {
    /// Nothing of the body (a 304, a HEAD).
    pub const NONE: Window = Window { skip: 0, take: 0 };

    /// `take` bytes after the first `skip`.
    pub fn bytes(skip: u64, take: u64) -> Window {
        Window { skip, take }
    }
}

/// Gives the client only `window` of `body`; what follows is read on without it, up to
/// `read_on` bytes (everything, into the store, when the whole is being stored).
pub fn carve(body: &mut ProxyBody, window: Window, read_on: u64) {
    body.wrap_with(|whole| Part { whole: Some(whole), skip: window.skip, take: window.take, read_on });
}

struct Part {
    whole: Option<ProxyBody>,
    skip: u64,
    take: u64,
    read_on: u64,
}

impl Part {
    /// The client has its part: the rest of the whole is read on in a task of its own.
    fn done(&mut self) {
        if let Some(whole) = self.whole.take() {
            if !whole.is_end_stream() && tokio::task::try_id().is_some() {
                tokio::task::spawn_local(read_on(whole, self.read_on));
            }
        }
    }
}

impl Drop for Part {
    /// A writer that stops at `is_end_stream` never polls for the end: the rest is read
    /// on all the same.
    fn drop(&mut self) {
        self.done();
    }
}

impl Body for Part {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.take == 0 {
                this.done();
                return Poll::Ready(None);
            }
            let Some(whole) = this.whole.as_mut() else { return Poll::Ready(None) };
            let frame = match std::task::ready!(Pin::new(whole).poll_frame(cx)) {
                None => {
                    // The whole ended short of the part: the client sees its answer cut.
                    this.whole = None;
                    return Poll::Ready(Some(Err("the response ended before the range".into())));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => frame,
            };
            let Ok(mut data) = frame.into_data() else { continue };
            let skipped = this.skip.min(data.len() as u64);
            this.skip -= skipped;
            let data = data.split_off(skipped as usize);
            let part = data.slice(..this.take.min(data.len() as u64) as usize);
            this.take -= part.len() as u64;
            if !part.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.take == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.take)
    }
}

async fn read_on(mut body: ProxyBody, limit: u64) {
    let mut read = 0u64;
    while read <= limit {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len) as u64,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that comes in the chunks it is given.
    struct Chunks(std::collections::VecDeque<&'static str>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))))
        }
    }

    async fn cut(chunks: &[&'static str], window: Window) -> Result<Bytes, BoxError> {
        let mut body = ProxyBody::empty();
        body.wrap_with(|_| Chunks(chunks.iter().copied().collect()));
        carve(&mut body, window, 0);
        Ok(body.collect().await?.to_bytes())
    }

    #[tokio::test]
    async fn the_part_is_cut_across_chunks() {
        let chunks = ["0123", "4567", "89"];
        assert_eq!(&cut(&chunks, Window { skip: 3, take: 4 }).await.unwrap()[..], b"3456");
        assert_eq!(&cut(&chunks, Window { skip: 8, take: 2 }).await.unwrap()[..], b"89");
        assert_eq!(&cut(&chunks, Window { skip: 0, take: 0 }).await.unwrap()[..], b"");
        assert!(cut(&chunks, Window { skip: 8, take: 3 }).await.is_err(), "a whole shorter than its length");
    }
}
