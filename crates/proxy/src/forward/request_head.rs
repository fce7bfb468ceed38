//! The request head as the upstream should see it: no hop-by-hop headers, the verified
//! client certificate's subject (never a client's own claim of one), the request id, the
//! request line for the upstream's protocol, and the forwarding headers. The mirror makes
//! its copies the same way.
use super::headers::{accepts_trailers, strip_hop_by_hop};
use crate::answers::Reason;
use crate::client_identity::{carries_forwarding, identity_of, set_forwarded};
use crate::filter::RequestCtx;
use crate::request_id;
use bytes::Bytes;
use forecourt_upstream::{Protocol, UpstreamGroup};
use http::header::{HeaderValue, HOST, TE};
use http::{request, Uri, Version};

/// Prepares `head` for `group`. `inline`: the request goes through the inline HTTP/1.1
/// client, which takes the forwarding headers as one block of header lines (returned;
/// made once per connection) when the client sent none of them; otherwise they go into
/// the map and the block is empty.
pub fn prepare(
    cx: &RequestCtx<'_>,
    group: &UpstreamGroup,
    head: &mut request::Parts,
    inline: bool,
) -> Result<Bytes, Reason> {
    // The Host header as the client sent it (a shared clone, no copy), or the HTTP/2 authority.
    let authority = match head.headers.get(HOST) {
        Some(host) => host.clone(),
        None => head
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or(HeaderValue::from_static("")),
    };
    let trailers = group.protocol == Protocol::H2c && accepts_trailers(&head.headers);
    strip_hop_by_hop(&mut head.headers, cx.upgrade);
    if trailers {
        head.headers.insert(TE, HeaderValue::from_static("trailers"));
    }
    if let Some((name, subject)) = cx.conn.client_cert.as_deref() {
        head.headers.remove(name);
        if let Some(subject) = subject {
            head.headers.insert(name.clone(), subject.clone());
        }
    }
    // Room for the forwarding headers and the request id at once, instead of growing (and
    // rehashing) the map once or twice on the way.
    head.headers.reserve(7);
    head.headers.insert(request_id::HEADER, cx.request_id.clone());
    if !target_for(group.protocol, group.tls().is_some(), head, &authority) {
        return Err(Reason::BadRequest);
    }
    let conn = cx.conn;
    let who = identity_of(&conn.forwarding, conn.peer.ip(), conn.tls, cx.identities, &cx.settings.trusted_proxies);
    // The common case, a request whose client sent no forwarding headers, gets them as one
    // block rendered per connection: from a trusted peer too (an internal client in a
    // trusted range, a local health check), where with nothing to append to or keep the
    // block is what the map would hold, its client being the peer. The others (a
    // balancer's headers to append to) go through the header map; a block made over
    // them per request measured no cheaper (bench/edge.md).
    if inline && !carries_forwarding(&head.headers) {
        return Ok(who.rendered(&authority));
    }
    set_forwarded(&mut head.headers, &who, &authority, cx.client);
    Ok(Bytes::new())
}

/// Rewrites the request line for the upstream's protocol; false if there is no authority
/// to address an HTTP/2 upstream with.
fn target_for(protocol: Protocol, tls: bool, head: &mut request::Parts, authority: &HeaderValue) -> bool {
    let path = head.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match protocol {
        Protocol::Http1 => {
            if !head.headers.contains_key(HOST) {
                head.headers.insert(HOST, authority.clone());
            }
            if head.uri.scheme().is_some() {
                match path.parse::<Uri>() {
                    Ok(uri) => head.uri = uri,
                    Err(_) => return false,
                }
            }
            head.version = Version::HTTP_11;
        }
        Protocol::H2c => {
            let Ok(authority) = authority.to_str() else { return false };
            let scheme = if tls { "https" } else { "http" };
            match Uri::builder().scheme(scheme).authority(authority).path_and_query(path).build() {
                Ok(uri) => head.uri = uri,
                Err(_) => return false,
            }
            head.headers.remove(HOST);
            head.version = Version::HTTP_2;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_follows_the_upstream_protocol() {
        let host = HeaderValue::from_static("example.com:8080");
        let mut head = http::Request::get("http://example.com:8080/a?b").body(()).unwrap().into_parts().0;
        assert!(target_for(Protocol::Http1, false, &mut head, &host));
        assert_eq!((head.uri.to_string().as_str(), head.version), ("/a?b", Version::HTTP_11));
        assert_eq!(head.headers[HOST], "example.com:8080");
        assert!(target_for(Protocol::H2c, true, &mut head, &host));
        assert_eq!(head.uri.to_string(), "https://example.com:8080/a?b");
        assert!(!head.headers.contains_key(HOST), "HTTP/2 carries it as :authority");
    }
}
