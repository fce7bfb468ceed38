//! The parsers that read bytes a client, an origin or a config author controls, fed
//! arbitrary input: none may panic (the release build aborts on a panic), loop or run
//! away with memory. The first byte picks the parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = || String::from_utf8_lossy(rest);
    match which % 6 {
        // A PROXY protocol v1 or v2 header, before anything else on a connection.
        0 => {
            let _ = forecourt_proxy::proxy_protocol::parse(rest);
        }
        // A chunked body from an origin, decoded piece by piece.
        1 => {
            let mut framing = forecourt_upstream::chunked::ChunkedFraming::default();
            let mut buf = bytes::BytesMut::from(rest);
            for _ in 0..64 {
                if !matches!(framing.decode(&mut buf), Ok(Some(_))) {
                    break;
                }
            }
        }
        // SecLang rule text, as `forecourt check` reads a WAF's files.
        2 => {
            let _ = forecourt_seclang::ModSecurity::from_string(&text());
        }
        // A request path, as routing reads it.
        3 => {
            let _ = forecourt_proxy::normal_path::normalized(&text());
        }
        // An address list's file or feed (a third party's text, fetched on its interval),
        // made into the set that requests are looked up in.
        4 => {
            use forecourt_edge::lists::text::{parse_as, Format};
            if let Ok(cidrs) = parse_as(&text(), Format::Auto) {
                let set = forecourt_edge::lists::IpSet::new(&cidrs);
                for ip in ["0.0.0.0", "10.0.2.7", "255.255.255.255", "::", "2001:db8::1", "ffff::1"] {
                    let _ = set.contains(ip.parse().expect("an address"));
                }
            }
        }
        // A GeoIP database file as it stands when read (damaged, or copied over in use):
        // looked up as requests look it up.
        5 => {
            for ip in ["10.0.2.7", "10.0.3.1", "192.0.2.1", "::1", "2001:db8::1"] {
                let _ = forecourt_edge::geoip::lookup_in(rest.to_vec(), ip.parse().expect("an address"));
            }
        }
        // Cache-Control directives from an origin.
        _ => {
            let _ = forecourt_cache::directives::Directives::parse_text(&text());
        }
    }
});
