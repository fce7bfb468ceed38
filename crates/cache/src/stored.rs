//! A stored response, and the entry of one key: its variants (one per secondary key).
use crate::body_pages;
use crate::directives::Directives;
use crate::freshness::{self, Timing};
use crate::vary;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LANGUAGE};
use http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One stored response: immutable once stored (a refresh stores a new one). The default
/// is an empty 200 received at the epoch, for tests to fill in.
#[derive(Debug, Default)]
pub struct Stored {
    pub status: StatusCode,
    /// As the origin sent them, less hop-by-hop fields, `Age` and the tag field.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The memory file `body` is the pages of, for bodies sent with `sendfile`.
    pub body_file: Option<Arc<std::fs::File>>,
    pub timing: Timing,
    /// Seconds it stays fresh.
    pub lifetime: u64,
    /// The directives this cache obeys for it.
    pub directives: Directives,
    /// The request headers it varies on, and the request's normalised values of them.
    pub vary: Vec<HeaderName>,
    pub vary_key: Vec<Option<String>>,
    /// Purge tags (`Cache-Tag` / `Surrogate-Key`).
    pub tags: Vec<Box<str>>,
    /// Whether `headers` hold fields meant for this cache alone (its own targeted field,
    /// `Surrogate-Control`), kept for refreshes and hidden from clients.
    pub private_fields: bool,
    pub hits: AtomicU64,
}

/// What the cache makes of a stored response at the moment of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Stale, by this many seconds.
    Stale(u64),
}

impl Stored {
    pub fn age(&self, now: u64) -> u64 {
        self.timing.age(now)
    }

    pub fn freshness(&self, now: u64) -> Freshness {
        let age = self.age(now);
        match age < self.lifetime {
            true => Freshness::Fresh,
            false => Freshness::Stale(age - self.lifetime),
        }
    }

    /// Seconds of freshness left (`ttl` of `Cache-Status`; negative when stale).
    pub fn ttl(&self, now: u64) -> i64 {
        self.lifetime as i64 - self.age(now) as i64
    }

    /// Whether it may be served stale at all (RFC 9111 §4.2.4): not when it says it must
    /// be revalidated (`must-revalidate`, `proxy-revalidate`, `s-maxage`, which implies
    /// the latter for a shared cache) or validated at every use (`no-cache`).
    pub fn may_serve_stale(&self) -> bool {
        let d = &self.directives;
        !(d.must_revalidate || d.proxy_revalidate || d.s_maxage.is_some() || d.no_cache)
    }

    /// Whether it must be validated before every use (`no-cache`).
    pub fn always_validate(&self) -> bool {
        self.directives.no_cache
    }

    /// Whether a request with `headers` selects it (its secondary key matches).
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        self.vary.is_empty() || vary::key(headers, &self.vary) == self.vary_key
    }

    /// Bytes it holds, for the memory bound: body, headers and bookkeeping.
    pub fn weight(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 16).sum();
        body_pages::footprint(self.body.len()) + headers + tags + 256
    }

    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Its date, for `Last-Modified`-less validation: its `Last-Modified` or `Date`.
    pub fn last_modified(&self) -> Option<u64> {
        freshness::http_date(&self.headers, http::header::LAST_MODIFIED)
    }

    /// A copy made stale at `now` (a soft purge): its lifetime cut to its age, so that its
    /// next use validates it with the origin, or serves it within its stale windows, which
    /// count from now; `None` when it is stale already.
    pub fn expired(&self, now: u64) -> Option<Stored> {
        let age = self.age(now);
        (age < self.lifetime).then(|| Stored {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            timing: self.timing,
            lifetime: age,
            directives: self.directives.clone(),
            vary: self.vary.clone(),
            vary_key: self.vary_key.clone(),
            tags: self.tags.clone(),
            private_fields: self.private_fields,
            hits: AtomicU64::new(self.hits.load(Ordering::Relaxed)),
        })
    }
}

/// A copy of `headers` whose values own their bytes. Values parsed from a response are
/// slices of the connection's read buffer (tens of KiB, holding the body's start too);
/// stored as they are, each object would keep that whole buffer alive, unseen by the
/// memory bound (measured: about a third more memory than the bound said).
pub fn owned_headers(headers: &HeaderMap) -> HeaderMap {
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    owned
}

/// Everything stored under one key: the URL it was stored for (purges match it), and
/// the variants, newest first.
#[derive(Debug)]
pub struct Entry {
    pub url: Arc<str>,
    pub variants: Vec<Arc<Stored>>,
}

impl Entry {
    /// The newest variant the request selects: by its secondary key, else by the
    /// language it prefers (`vary::selected_by_language`).
    pub fn select(&self, headers: &HeaderMap) -> Option<&Arc<Stored>> {
        self.variants.iter().find(|v| v.matches(headers)).or_else(|| {
            self.variants.iter().find(|v| {
                let language = v.headers.get(CONTENT_LANGUAGE).and_then(|l| l.to_str().ok());
                vary::selected_by_language(headers, &v.vary, &v.vary_key, language)
            })
        })
    }

    /// This entry with `stored` in place of the variant of the same secondary key.
    pub fn with(&self, stored: Arc<Stored>) -> Entry {
        let mut variants = vec![stored.clone()];
        variants.extend(
            self.variants.iter().filter(|v| !(v.vary == stored.vary && v.vary_key == stored.vary_key)).cloned(),
        );
        // A bound on variants, so that a header with endless values cannot grow one key.
        variants.truncate(MAX_VARIANTS);
        Entry { url: self.url.clone(), variants }
    }

    pub fn weight(&self) -> usize {
        self.url.len() * 2 + 64 + self.variants.iter().map(|v| v.weight()).sum::<usize>()
    }

    pub fn tagged(&self, tag: &str) -> bool {
        self.variants.iter().any(|v| v.tags.iter().any(|t| &**t == tag))
    }

    /// This entry with every variant made stale at `now` (`Stored::expired`); `None` when
    /// every one is stale already.
    pub fn expired(&self, now: u64) -> Option<Entry> {
        let mut changed = false;
        let variants = self.variants.iter().map(|v| match v.expired(now) {
            Some(stale) => {
                changed = true;
                Arc::new(stale)
            }
            None => v.clone(),
        });
        let variants = variants.collect();
        changed.then(|| Entry { url: self.url.clone(), variants })
    }
}

/// Variants kept per key.
pub const MAX_VARIANTS: usize = 16;
