//! The compression filter: the request phase notes the coding the client prefers; the
//! response phase decides, and adjusts the head; the response-body phase wraps the body.
use crate::body::Compressed;
use crate::eligible::Eligibility;
use crate::negotiate::{self, Coding};
use compression_codecs::{BrotliEncoder, EncodeV2, GzipEncoder, ZstdEncoder};
use compression_core::Level;
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::header::{HeaderValue, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, VARY};
use http::{request, Response};

/// Levels per coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels {
    pub zstd: i32,
    pub br: u32,
    pub gzip: u32,
}

impl Default for Levels {
    /// zstd's and zlib's own defaults; brotli at 4, where it still outpaces gzip -6 in
    /// speed and beats it in size (11, its maximum, is for static files).
    fn default() -> Self {
        Levels { zstd: 3, br: 4, gzip: 6 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressOptions {
    /// The codings offered, in the server's order of preference.
    pub codings: Vec<Coding>,
    pub levels: Levels,
    pub eligibility: Eligibility,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            codings: Coding::ALL.to_vec(),
            levels: Levels::default(),
            eligibility: Eligibility::default(),
        }
    }
}

pub struct CompressFilter {
    pub options: CompressOptions,
}

/// The coding this request will get if its response is eligible (`None`: it accepts
/// none). A HEAD gets the head of what a GET would.
struct Wanted {
    coding: Option<Coding>,
}

/// Set by the response phase for the body phase.
struct Chosen(Coding);

impl Filter for CompressFilter {
    fn describe(&self) -> FilterInfo {
        let o = &self.options;
        let codings: Vec<&str> = o.codings.iter().map(|c| c.token()).collect();
        FilterInfo::new("compress", Phases::REQUEST.and(Phases::RESPONSE).and(Phases::RESPONSE_BODY))
            .headline(codings.join(","))
            .param("levels", format!("zstd={} br={} gzip={}", o.levels.zstd, o.levels.br, o.levels.gzip))
            .param("min_size", o.eligibility.min_size.to_string())
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        let coding = negotiate::choose(&head.headers, &self.options.codings);
        cx.insert(Wanted { coding });
        Decision::Continue
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        let Some(wanted) = cx.take::<Wanted>() else { return };
        if !self.options.eligibility.allows(resp.status(), resp.headers()) {
            return;
        }
        // The answer depends on Accept-Encoding whether or not this client gets a coding.
        add_vary(resp.headers_mut());
        let Some(coding) = wanted.coding else { return };
        let headers = resp.headers_mut();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
        headers.remove(CONTENT_LENGTH);
        headers.remove(ACCEPT_RANGES);
        if let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()).filter(|e| e.starts_with('"')) {
            if let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}")) {
                headers.insert(ETAG, weak);
            }
        }
        cx.log("coding", coding.token());
        cx.insert(Chosen(coding));
    }

    fn on_response_body(&self, body: &mut ProxyBody, cx: &mut RequestCtx<'_>) {
        let Some(Chosen(coding)) = cx.take::<Chosen>() else { return };
        // Nothing to code: a HEAD's answer from its upstream. (A HEAD the cache asked as a
        // GET has the GET's body, which is coded as a GET's: it is stored and served.)
        if http_body::Body::is_end_stream(body) {
            return;
        }
        let levels = self.options.levels;
        let encoder: Box<dyn EncodeV2> = match coding {
            Coding::Zstd => Box::new(ZstdEncoder::new(levels.zstd)),
            Coding::Br => Box::new(BrotliEncoder::new(
                compression_codecs::brotli::params::EncoderParams::default().quality(Level::Precise(levels.br as i32)),
            )),
            Coding::Gzip => Box::new(GzipEncoder::new(Level::Precise(levels.gzip as i32).into())),
        };
        body.wrap_with(|inner| Compressed::new(inner, encoder));
    }
}

/// Adds `Accept-Encoding` to `Vary` unless it is there (or `Vary: *`).
fn add_vary(headers: &mut http::HeaderMap) {
    let present = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|n| n.trim().eq_ignore_ascii_case("accept-encoding") || n.trim() == "*"));
    if !present {
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}
