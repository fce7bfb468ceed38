//! The file of one key on disk: its entry (URL, tags, every variant with its head, body,
//! timing and directives) behind a magic and a length, followed by a CRC-32 of what it
//! holds, so that a truncated or corrupt file is recognised and never served.
//!
//! `magic (8) | payload length (u64) | payload | crc32 of payload (u32)`; the payload
//! starts with the key, the URL and the tags, which is all a scan at startup reads.
use crate::body_pages;
use crate::directives::Directives;
use crate::freshness::Timing;
use crate::stored::{Entry, Stored};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use std::io::{self, Read};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"FCCACHE1";
/// Magic, length and checksum around the payload.
pub const FRAME: u64 = 8 + 8 + 4;

/// What the index keeps of a file: enough to find it and to purge it unread.
#[derive(Debug)]
pub struct Summary {
    pub key: Arc<str>,
    pub url: Arc<str>,
    pub tags: Vec<Box<str>>,
}

pub fn encode(key: &str, entry: &Entry) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(entry.weight() + 64));
    w.0.extend_from_slice(MAGIC);
    w.u64(0); // the length, filled in below
    w.str(key);
    w.str(&entry.url);
    let tags: Vec<&Box<str>> = entry.variants.iter().flat_map(|v| v.tags.iter()).collect();
    w.u32(tags.len() as u32);
    tags.iter().for_each(|t| w.str(t));
    w.u32(entry.variants.len() as u32);
    for v in &entry.variants {
        variant(&mut w, v);
    }
    let payload_len = (w.0.len() - 16) as u64;
    w.0[8..16].copy_from_slice(&payload_len.to_le_bytes());
    let crc = crc32fast::hash(&w.0[16..]);
    w.u32(crc);
    w.0
}

fn variant(w: &mut Writer, v: &Stored) {
    w.u32(u32::from(v.status.as_u16()));
    w.u32(v.headers.len() as u32);
    for (name, value) in &v.headers {
        w.bytes(name.as_str().as_bytes());
        w.bytes(value.as_bytes());
    }
    w.bytes(&v.body);
    for n in [v.timing.request_time, v.timing.response_time, v.timing.initial_age, v.lifetime] {
        w.u64(n);
    }
    let d = &v.directives;
    for o in [d.max_age, d.s_maxage, d.stale_while_revalidate, d.stale_if_error] {
        w.opt(o);
    }
    let flags = [
        d.no_store,
        d.no_cache,
        d.private,
        d.public,
        d.must_revalidate,
        d.proxy_revalidate,
        d.immutable,
        d.no_transform,
    ];
    w.u32(flags.iter().enumerate().map(|(i, f)| u32::from(*f) << i).sum());
    w.u32(v.vary.len() as u32);
    for (name, value) in v.vary.iter().zip(&v.vary_key) {
        w.str(name.as_str());
        match value {
            Some(value) => {
                w.u32(1);
                w.str(value);
            }
            None => w.u32(0),
        }
    }
    w.u32(v.tags.len() as u32);
    v.tags.iter().for_each(|t| w.str(t));
}

/// Reads the frame and the summary from the start of a file of `file_len` bytes, checking
/// that the file is as long as its frame says (a truncated file is not).
pub fn summary(r: &mut impl Read, file_len: u64) -> io::Result<Summary> {
    let mut r = Reader(r);
    let mut magic = [0; 8];
    r.0.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(corrupt("not a cache file"));
    }
    if r.u64()?.checked_add(FRAME) != Some(file_len) {
        return Err(corrupt("truncated"));
    }
    let key = r.str()?.into();
    let url = r.str()?.into();
    let tags = (0..r.count()?).map(|_| r.str().map(Into::into)).collect::<io::Result<_>>()?;
    Ok(Summary { key, url, tags })
}

/// Whether the file at `path` begins as the cache's files do (or is empty: a write the
/// system lost in a crash), so that deleting it loses nobody else's data.
pub fn is_ours(path: &std::path::Path) -> bool {
    let mut magic = Vec::with_capacity(MAGIC.len());
    let read = std::fs::File::open(path).and_then(|f| f.take(MAGIC.len() as u64).read_to_end(&mut magic));
    read.is_ok() && MAGIC.starts_with(&magic)
}

/// The whole entry of a file read into `file`, its checksum verified.
pub fn decode(file: &[u8]) -> io::Result<(Summary, Entry)> {
    let len = file.len() as u64;
    let payload = file.get(16..file.len().saturating_sub(4)).ok_or_else(|| corrupt("truncated"))?;
    let mut slice = file;
    let summary = summary(&mut slice, len)?;
    let crc = u32::from_le_bytes(file[file.len() - 4..].try_into().expect("four bytes"));
    if crc32fast::hash(payload) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    let mut r = Reader(&mut slice);
    let variants = (0..r.count()?).map(|_| read_variant(&mut r).map(Arc::new)).collect::<io::Result<_>>()?;
    let entry = Entry { url: summary.url.clone(), variants };
    Ok((summary, entry))
}

fn read_variant(r: &mut Reader<impl Read>) -> io::Result<Stored> {
    let status = StatusCode::from_u16(r.u32()? as u16).map_err(|_| corrupt("bad status"))?;
    let mut headers = HeaderMap::new();
    for _ in 0..r.count()? {
        let name = HeaderName::from_bytes(&r.bytes()?).map_err(|_| corrupt("bad header name"))?;
        let value = HeaderValue::from_bytes(&r.bytes()?).map_err(|_| corrupt("bad header value"))?;
        headers.append(name, value);
    }
    let body = r.bytes()?;
    let body = body_pages::assemble([&body[..]], body.len());
    let [request_time, response_time, initial_age, lifetime] = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
    let (max_age, s_maxage, stale_while_revalidate, stale_if_error) = (r.opt()?, r.opt()?, r.opt()?, r.opt()?);
    let flags = r.u32()?;
    let flag = |i: u32| flags & (1 << i) != 0;
    let directives = Directives {
        max_age,
        s_maxage,
        stale_while_revalidate,
        stale_if_error,
        no_store: flag(0),
        no_cache: flag(1),
        private: flag(2),
        public: flag(3),
        must_revalidate: flag(4),
        proxy_revalidate: flag(5),
        immutable: flag(6),
        no_transform: flag(7),
        ..Directives::default()
    };
    let (mut vary, mut vary_key) = (Vec::new(), Vec::new());
    for _ in 0..r.count()? {
        vary.push(HeaderName::from_bytes(r.str()?.as_bytes()).map_err(|_| corrupt("bad vary"))?);
        vary_key.push(match r.u32()? {
            0 => None,
            _ => Some(r.str()?),
        });
    }
    let tags = (0..r.count()?).map(|_| r.str().map(Into::into)).collect::<io::Result<_>>()?;
    Ok(Stored {
        status,
        headers,
        body: body.bytes,
        body_file: body.file,
        timing: Timing { request_time, response_time, initial_age },
        lifetime,
        directives,
        vary,
        vary_key,
        tags,
        // The names of the fields for the cache alone are the config's: assume some.
        private_fields: true,
        hits: AtomicU64::new(0),
    })
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, n: u32) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt(&mut self, o: Option<u64>) {
        self.u32(u32::from(o.is_some()));
        self.u64(o.unwrap_or(0));
    }
}

struct Reader<'a, R>(&'a mut R);

/// The most items of any list a sane file holds; a larger count is corruption, not an
/// allocation to attempt.
const MAX_COUNT: u32 = 1 << 16;

impl<R: Read> Reader<'_, R> {
    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0; 4];
        self.0.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0; 8];
        self.0.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn count(&mut self) -> io::Result<u32> {
        let n = self.u32()?;
        (n <= MAX_COUNT).then_some(n).ok_or_else(|| corrupt("bad count"))
    }
    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let len = self.u64()?;
        let mut out = Vec::new();
        // `take` bounds the read by what is there, so a corrupt length allocates nothing.
        self.0.by_ref().take(len).read_to_end(&mut out)?;
        match out.len() as u64 == len {
            true => Ok(out),
            false => Err(corrupt("truncated")),
        }
    }
    fn str(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| corrupt("bad text"))
    }
    fn opt(&mut self) -> io::Result<Option<u64>> {
        let some = self.u32()? != 0;
        let n = self.u64()?;
        Ok(some.then_some(n))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry() -> Entry {
        entry_at(11)
    }

    /// An entry received at `response_time` (Unix seconds), fresh for 60 s.
    pub(in crate::disk) fn entry_at(response_time: u64) -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("set-thing", HeaderValue::from_static("a"));
        headers.append("set-thing", HeaderValue::from_static("b"));
        let stored = Stored {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"hello, disk"),
            body_file: None,
            timing: Timing { request_time: response_time - 1, response_time, initial_age: 3 },
            lifetime: 60,
            directives: Directives { max_age: Some(60), public: true, immutable: true, ..Directives::default() },
            vary: vec![HeaderName::from_static("accept-encoding")],
            vary_key: vec![Some("gzip".into())],
            tags: vec!["t1".into()],
            private_fields: true,
            hits: AtomicU64::new(7),
        };
        Entry { url: "http://a/x".into(), variants: vec![Arc::new(stored)] }
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let file = encode("k", &entry());
        let (summary, back) = decode(&file).unwrap();
        assert_eq!((&*summary.key, &*summary.url, summary.tags.len()), ("k", "http://a/x", 1));
        let (a, b) = (&entry().variants[0], &back.variants[0]);
        assert_eq!(
            (a.status, &a.headers, &a.body, a.timing, a.lifetime),
            (b.status, &b.headers, &b.body, b.timing, b.lifetime)
        );
        assert_eq!((&a.directives, &a.vary, &a.vary_key, &a.tags), (&b.directives, &b.vary, &b.vary_key, &b.tags));
    }

    #[test]
    fn corrupt_and_truncated_files_are_refused() {
        let file = encode("k", &entry());
        for cut in [0, 5, 16, file.len() / 2, file.len() - 1] {
            assert!(decode(&file[..cut]).is_err(), "cut at {cut}");
        }
        let body_at = file.windows(4).position(|w| w == b"disk").unwrap();
        let mut flipped = file.clone();
        flipped[body_at] ^= 1;
        assert_eq!(decode(&flipped).unwrap_err().to_string(), "checksum mismatch");
        assert!(summary(&mut &file[..], file.len() as u64 + 1).is_err());
    }
}
