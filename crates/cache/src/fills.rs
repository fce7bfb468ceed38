//! Request coalescing: while one request of a key (the leader) is fetching it, the others
//! wait for its response head, then stream its body as it arrives instead of asking the
//! origin again. A response that turns out not to be stored releases them at once (each
//! goes upstream); a leader that never answers releases them when it is dropped, and a
//! waiter that waits longer than the lock timeout goes upstream by itself.
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The in-progress fetches, by key: one for the process, shared by every worker.
#[derive(Default)]
pub struct Fills {
    map: Mutex<HashMap<Arc<str>, Arc<Fill>>>,
}

/// Either the request leads the fetch of its key, or another one does.
pub enum Role {
    Leader(Leader),
    Follower(Arc<Fill>),
}

impl Fills {
    pub fn join(self: &Arc<Self>, key: &Arc<str>) -> Role {
        let mut map = self.map.lock().unwrap();
        if let Some(fill) = map.get(key) {
            return Role::Follower(fill.clone());
        }
        let fill = Arc::new(Fill::default());
        map.insert(key.clone(), fill.clone());
        Role::Leader(Leader { fills: self.clone(), key: key.clone(), fill, done: false })
    }

    /// The fetch in progress for `key`, if there is one (to follow it without leading).
    pub fn in_progress_for(&self, key: &str) -> Option<Arc<Fill>> {
        self.map.lock().unwrap().get(key).cloned()
    }

    fn forget(&self, key: &str, fill: &Arc<Fill>) {
        let mut map = self.map.lock().unwrap();
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, fill)) {
            map.remove(key);
        }
    }

    pub fn in_progress(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

/// One fetch: its head once known, the body chunks so far, and who waits.
#[derive(Default)]
pub struct Fill {
    state: Mutex<FillState>,
}

#[derive(Default)]
struct FillState {
    head: Head,
    chunks: Vec<Bytes>,
    ended: Option<bool>,
    wakers: Vec<Waker>,
}

#[derive(Clone, Default)]
pub enum Head {
    #[default]
    Pending,
    /// The response will be stored: followers may share it.
    Shared(Arc<SharedHead>),
    /// Not stored, or no response: followers go upstream themselves.
    Released,
}

/// What followers answer with: the stored response's head.
pub struct SharedHead {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The request headers it varies on, and the leader's values of them.
    pub vary: Vec<http::HeaderName>,
    pub vary_key: Vec<Option<String>>,
}

impl Fill {
    fn update(&self, change: impl FnOnce(&mut FillState)) {
        let wakers = {
            let mut s = self.state.lock().unwrap();
            change(&mut s);
            std::mem::take(&mut s.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Waits for the leader's head.
    pub fn head(self: &Arc<Self>) -> impl Future<Output = Head> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.state.lock().unwrap();
            match &s.head {
                Head::Pending => {
                    s.wakers.push(cx.waker().clone());
                    Poll::Pending
                }
                head => Poll::Ready(head.clone()),
            }
        })
    }

    /// The body as it arrives, for a follower.
    pub fn body(self: &Arc<Self>) -> FollowerBody {
        FollowerBody { fill: self.clone(), next: 0 }
    }
}

/// The leading request's hold on its fill; dropped without a verdict (the request failed
/// or was cut), it releases the followers.
pub struct Leader {
    fills: Arc<Fills>,
    key: Arc<str>,
    fill: Arc<Fill>,
    done: bool,
}

impl Leader {
    /// The response will be stored: followers answer with `head` and stream the body.
    pub fn share(&self, head: SharedHead) {
        self.fill.update(|s| s.head = Head::Shared(Arc::new(head)));
    }

    /// The response will not be stored: followers go upstream.
    pub fn release(mut self) {
        self.finish(false);
    }

    pub fn chunk(&self, data: &Bytes) {
        let data = data.clone();
        self.fill.update(|s| s.chunks.push(data));
    }

    /// The body ended (`complete`: in full; else it broke and followers' bodies break too).
    pub fn end(mut self, complete: bool) {
        self.finish(complete);
    }

    fn finish(&mut self, complete: bool) {
        if self.done {
            return;
        }
        self.done = true;
        self.fills.forget(&self.key, &self.fill);
        self.fill.update(|s| {
            if matches!(s.head, Head::Pending) {
                s.head = Head::Released;
            }
            s.ended = Some(complete);
        });
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// A follower's response body: the leader's chunks, as they come.
pub struct FollowerBody {
    fill: Arc<Fill>,
    next: usize,
}

/// The leader's body broke before its end.
#[derive(Debug)]
pub struct Broken;

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shared response broke before its end")
    }
}

impl std::error::Error for Broken {}

impl http_body::Body for FollowerBody {
    type Data = Bytes;
    type Error = Broken;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Broken>>> {
        let fill = self.fill.clone();
        let mut s = fill.state.lock().unwrap();
        if let Some(chunk) = s.chunks.get(self.next) {
            let chunk = chunk.clone();
            drop(s);
            self.next += 1;
            return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
        }
        match s.ended {
            Some(true) => Poll::Ready(None),
            Some(false) => Poll::Ready(Some(Err(Broken))),
            None => {
                s.wakers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn followers_get_the_head_and_stream_the_body() {
        let fills = Arc::new(Fills::default());
        let key: Arc<str> = "k".into();
        let Role::Leader(leader) = fills.join(&key) else { panic!("the first leads") };
        let Role::Follower(fill) = fills.join(&key) else { panic!("the second follows") };
        let waiter = tokio::spawn(async move {
            let Head::Shared(head) = fill.head().await else { panic!("shared") };
            assert_eq!(head.status, 200);
            fill.body().collect().await.unwrap().to_bytes()
        });
        tokio::task::yield_now().await;
        let head = SharedHead { status: StatusCode::OK, headers: HeaderMap::new(), vary: vec![], vary_key: vec![] };
        leader.share(head);
        leader.chunk(&Bytes::from_static(b"ab"));
        tokio::task::yield_now().await;
        leader.chunk(&Bytes::from_static(b"cd"));
        leader.end(true);
        assert_eq!(waiter.await.unwrap(), "abcd");
        assert_eq!(fills.in_progress(), 0);
        // A leader dropped without a verdict releases its followers.
        let Role::Leader(leader) = fills.join(&key) else { panic!() };
        let Role::Follower(fill) = fills.join(&key) else { panic!() };
        drop(leader);
        assert!(matches!(fill.head().await, Head::Released));
    }
}
