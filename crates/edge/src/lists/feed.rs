//! A list's feed (`url`): fetched again every `refresh` with `If-None-Match` /
//! `If-Modified-Since`, so an unchanged feed costs a 304. A fetch that fails, or a copy
//! with bad lines, keeps the last good copy and says why (logged, and in `/metrics`).
//! A reload that keeps the list's URL keeps its feed, copy and validators included. The
//! copy is kept on disk too (`kept`), so a restart starts from it.
use super::kept;
use super::text::{self, Format};
use forecourt_proxy::cidr::Cidr;
use http::header::{HeaderMap, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The largest feed read (FireHOL's biggest sets are a few megabytes).
const MAX_BYTES: usize = 64 << 20;
/// The longest one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Feed {
    pub url: String,
    pub refresh: Duration,
    pub format: Format,
    /// Where the last good copy is kept on disk (`None`: memory only).
    pub keep: Option<PathBuf>,
    state: Mutex<State>,
    pub updated: AtomicU64,
    pub unchanged: AtomicU64,
    pub failed: AtomicU64,
}

#[derive(Clone, Default)]
struct State {
    copy: Arc<Vec<Cidr>>,
    /// Counts the copies taken (0: none yet).
    generation: u64,
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    /// When the last good copy came (a 200 or a 304).
    confirmed: Option<SystemTime>,
    next_fetch: Option<Instant>,
}

/// What one fetch came to.
pub enum Fetched {
    Updated(usize),
    Unchanged,
}

impl Feed {
    pub fn new(url: &str, refresh: Duration, format: Format, keep: Option<PathBuf>) -> Feed {
        Feed {
            url: url.to_owned(),
            refresh,
            format,
            keep,
            state: Mutex::default(),
            updated: AtomicU64::new(0),
            unchanged: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Whether it fetches what `other` fetches, as often, read the same way and kept in
    /// the same place (a reload that keeps all four keeps the running feed).
    pub fn same_as(&self, other: &Feed) -> bool {
        self.url == other.url && self.refresh == other.refresh && self.format == other.format && self.keep == other.keep
    }

    /// Starts from `earlier`'s copy and validators (a reload that changed how often the
    /// feed is fetched, or where it is kept): the list keeps its entries meanwhile. It is
    /// fetched again at once.
    pub fn continuing(self, earlier: &Feed) -> Feed {
        let state = State { next_fetch: None, ..earlier.state.lock().unwrap().clone() };
        Feed { state: Mutex::new(state), ..self }
    }

    /// Starts from the copy kept on disk, if there is one of this URL (a start, or a list
    /// that is new to the running config); a damaged one is passed over and said.
    pub fn from_kept_copy(self) -> Feed {
        let Some(path) = &self.keep else { return self };
        match kept::read(path, &self.url) {
            Ok(None) => {}
            Ok(Some(copy)) => {
                tracing::info!(url = %self.url, entries = copy.cidrs.len(), path = %path.display(),
                    "list feed starts from its kept copy");
                let mut s = self.state.lock().unwrap();
                s.copy = Arc::new(copy.cidrs);
                s.generation = 1;
                s.etag = copy.etag;
                s.last_modified = copy.last_modified;
                s.confirmed = copy.confirmed;
            }
            Err(why) => tracing::warn!(url = %self.url, "list feed's kept copy passed over: {why}"),
        }
        self
    }

    /// The latest good copy, and its generation.
    pub fn copy(&self) -> (Arc<Vec<Cidr>>, u64) {
        let s = self.state.lock().unwrap();
        (s.copy.clone(), s.generation)
    }

    pub fn generation(&self) -> u64 {
        self.state.lock().unwrap().generation
    }

    /// Seconds since the last good copy was confirmed, if there is one.
    pub fn age(&self) -> Option<Duration> {
        self.state.lock().unwrap().confirmed.and_then(|t| t.elapsed().ok())
    }

    /// Whether a fetch is due (the first at once; after a failure, within a minute).
    pub fn due(&self, now: Instant) -> bool {
        self.state.lock().unwrap().next_fetch.is_none_or(|next| now >= next)
    }

    /// Fetches the feed once, keeping the last good copy when that fails.
    pub async fn fetch(&self) -> Result<Fetched, String> {
        let outcome = match tokio::time::timeout(FETCH_TIMEOUT, self.fetch_once()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {FETCH_TIMEOUT:?}")),
        };
        let retry = match &outcome {
            Ok(_) => self.refresh,
            Err(_) => self.refresh.min(Duration::from_secs(60)),
        };
        self.state.lock().unwrap().next_fetch = Some(Instant::now() + retry);
        let counter = match &outcome {
            Ok(Fetched::Updated(_)) => &self.updated,
            Ok(Fetched::Unchanged) => &self.unchanged,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    async fn fetch_once(&self) -> Result<Fetched, String> {
        let mut headers = HeaderMap::new();
        {
            let s = self.state.lock().unwrap();
            if let Some(etag) = &s.etag {
                headers.insert(IF_NONE_MATCH, etag.clone());
            }
            if let Some(date) = &s.last_modified {
                headers.insert(IF_MODIFIED_SINCE, date.clone());
            }
        }
        let resp = forecourt_tls::fetch::get(&self.url, headers, MAX_BYTES).await?;
        match resp.status().as_u16() {
            304 => {
                self.state.lock().unwrap().confirmed = Some(SystemTime::now());
                self.keep_copy(true);
                return Ok(Fetched::Unchanged);
            }
            200 => {}
            other => return Err(format!("the server answered {other}")),
        }
        let body = std::str::from_utf8(resp.body()).map_err(|_| "the feed is not UTF-8 text".to_owned())?;
        let cidrs = text::parse_as(body, self.format).map_err(|bad| {
            let lines: Vec<String> = bad.iter().take(3).map(|(n, why)| format!("line {n}: {why}")).collect();
            format!("bad lines in the feed ({})", lines.join("; "))
        })?;
        let count = cidrs.len();
        let mut s = self.state.lock().unwrap();
        s.copy = Arc::new(cidrs);
        s.generation += 1;
        s.etag = resp.headers().get(ETAG).cloned();
        s.last_modified = resp.headers().get(LAST_MODIFIED).cloned();
        s.confirmed = Some(SystemTime::now());
        drop(s);
        self.keep_copy(false);
        Ok(Fetched::Updated(count))
    }

    /// Writes the latest good copy to disk (or, when it is `unchanged`, marks the kept one
    /// confirmed, writing it only if it is missing). On the feed thread: a worker never
    /// waits for it. A copy that cannot be kept is said, and the feed goes on in memory.
    fn keep_copy(&self, unchanged: bool) {
        let Some(path) = &self.keep else { return };
        if unchanged && kept::touch(path).is_ok() {
            return;
        }
        let s = self.state.lock().unwrap().clone();
        if let Err(e) = kept::write(path, &self.url, &s.copy, s.etag.as_ref(), s.last_modified.as_ref()) {
            tracing::warn!(url = %self.url, path = %path.display(), "cannot keep the list feed's copy on disk: {e}");
        }
    }
}
