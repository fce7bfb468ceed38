//! The PROXY protocol header (v1 text, v2 binary) that a load balancer in front sends
//! before a connection's first byte, naming the client it accepted. Read only on a
//! listener with `proxy_protocol = true` and only from a `trusted_proxies` peer; read
//! with `peek` first, so that exactly the header is taken and the bytes after it (a TLS
//! ClientHello, a request) stay in the socket for the next stage.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header (RFC: 107 bytes with its CRLF).
const V1_MAX: usize = 107;

/// What the start of a connection says.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// More bytes are needed.
    Partial,
    /// The header's length, and the client it names (`None`: `UNKNOWN` or `LOCAL`, the
    /// balancer's own connection: the socket's peer stands).
    Done(usize, Option<SocketAddr>),
    Invalid,
}

/// Parses a header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Header {
    if buf.len() < 12 {
        return if V2_SIGNATURE.starts_with(buf) || b"PROXY ".starts_with(&buf[..buf.len().min(6)]) {
            Header::Partial
        } else {
            Header::Invalid
        };
    }
    if buf.starts_with(V2_SIGNATURE) {
        v2(buf)
    } else if buf.starts_with(b"PROXY ") {
        v1(buf)
    } else {
        Header::Invalid
    }
}

/// `PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\n`, or `PROXY UNKNOWN ...\r\n`.
fn v1(buf: &[u8]) -> Header {
    let Some(end) = buf[..buf.len().min(V1_MAX)].windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX { Header::Invalid } else { Header::Partial };
    };
    let Ok(line) = std::str::from_utf8(&buf[6..end]) else { return Header::Invalid };
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["UNKNOWN", ..] => Header::Done(end + 2, None),
        [family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let (Ok(ip), Ok(port)) = (src.parse::<IpAddr>(), sport.parse::<u16>()) else { return Header::Invalid };
            if ip.is_ipv4() != (*family == "TCP4") {
                return Header::Invalid;
            }
            Header::Done(end + 2, Some(SocketAddr::new(ip, port)))
        }
        _ => Header::Invalid,
    }
}

/// The binary header: signature, version and command, family and protocol, length, then
/// the addresses (and TLVs, skipped).
fn v2(buf: &[u8]) -> Header {
    if buf.len() < 16 {
        return Header::Partial;
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if version != 2 || command > 1 {
        return Header::Invalid;
    }
    if buf.len() < 16 + len {
        return Header::Partial;
    }
    let body = &buf[16..16 + len];
    if command == 0 {
        return Header::Done(16 + len, None); // LOCAL: the balancer's own check
    }
    let client = match buf[13] {
        0x11 if len >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            SocketAddr::new(ip.into(), u16::from_be_bytes([body[8], body[9]]))
        }
        0x21 if len >= 36 => {
            let octets: [u8; 16] = body[..16].try_into().expect("16 bytes");
            SocketAddr::new(Ipv6Addr::from(octets).into(), u16::from_be_bytes([body[32], body[33]]))
        }
        0x00 => return Header::Done(16 + len, None), // UNSPEC
        _ => return Header::Invalid,
    };
    Header::Done(16 + len, Some(client))
}

/// Reads the header from `stream` within `timeout`, leaving what follows it unread: the
/// client it names, the socket's `peer` for `UNKNOWN` / `LOCAL`, or `None` when the
/// header is missing, malformed or late (the connection is then closed).
pub async fn read(stream: &TcpStream, peer: SocketAddr, timeout: Duration) -> Option<SocketAddr> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 536]; // a v2 header with its TLVs fits in one peek
    loop {
        let seen = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await.ok()?.ok()?;
        if seen == 0 {
            return None;
        }
        match parse(&buf[..seen]) {
            Header::Invalid => return None,
            Header::Partial if seen == buf.len() => return None,
            Header::Partial => {
                // Wait for more than what is already there.
                tokio::time::sleep(Duration::from_millis(5)).await;
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
            }
            Header::Done(len, client) => {
                let mut take = vec![0u8; len];
                let mut got = 0;
                while got < len {
                    stream.readable().await.ok()?;
                    match stream.try_read(&mut take[got..]) {
                        Ok(0) => return None,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(_) => return None,
                    }
                }
                return Some(client.unwrap_or(peer));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1() {
        let h = b"PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\nGET /";
        assert_eq!(parse(h), Header::Done(47, Some("203.0.113.7:51234".parse().unwrap())));
        let h6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 443\r\n";
        assert_eq!(parse(h6), Header::Done(h6.len(), Some("[2001:db8::7]:51234".parse().unwrap())));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Header::Done(15, None));
        assert_eq!(parse(b"PROXY TCP4 203.0.113.7 198.51"), Header::Partial);
        assert_eq!(parse(b"PRO"), Header::Partial);
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 198.51.100.1 99999 443\r\n",
            b"PROXY TCP9 a b 1 2\r\n",
        ] {
            assert_eq!(parse(bad), Header::Invalid, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(&[b'P'; 200]), Header::Invalid);
    }

    #[test]
    fn version_2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([0x21, 0x11, 0, 12, 203, 0, 113, 7, 198, 51, 100, 1, 0xc8, 0x22, 0x01, 0xbb]);
        assert_eq!(parse(&h), Header::Done(28, Some("203.0.113.7:51234".parse().unwrap())));
        assert_eq!(parse(&h[..20]), Header::Partial);
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local), Header::Done(16, None));
        let mut bad = V2_SIGNATURE.to_vec();
        bad.extend([0x31, 0x11, 0, 0]);
        assert_eq!(parse(&bad), Header::Invalid, "version 3");
    }
}
