//! A small MaxMind DB (format 2.0) written by the tests themselves: an IPv4 search tree
//! with 24-bit records, and for each network a map with `country.iso_code` and
//! `autonomous_system_number`, as GeoLite2 Country and ASN databases have them.
//! The format: <https://maxmind.github.io/MaxMind-DB/>.

/// One network of the database: `a.b.c.d/prefix`, its country and its AS number.
pub struct Entry {
    pub network: [u8; 4],
    pub prefix: u8,
    pub country: &'static str,
    pub asn: u32,
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    /// Offset in the data section.
    Data(usize),
}

pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
    for e in entries {
        let offset = data.len();
        map(&mut data, 2);
        string(&mut data, "country");
        map(&mut data, 1);
        string(&mut data, "iso_code");
        string(&mut data, e.country);
        string(&mut data, "autonomous_system_number");
        uint32(&mut data, e.asn);
        let bits = u32::from_be_bytes(e.network);
        let mut node = 0;
        for depth in 0..e.prefix {
            let side = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == e.prefix {
                nodes[node][side] = Rec::Data(offset);
            } else {
                node = match nodes[node][side] {
                    Rec::Node(next) => next,
                    _ => {
                        nodes.push([Rec::Empty; 2]);
                        nodes[node][side] = Rec::Node(nodes.len() - 1);
                        nodes.len() - 1
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for rec in pair {
            let value = match *rec {
                Rec::Empty => count,
                Rec::Node(n) => n,
                Rec::Data(off) => count + 16 + off,
            };
            out.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    map(&mut out, 9);
    string(&mut out, "binary_format_major_version");
    uint16(&mut out, 2);
    string(&mut out, "binary_format_minor_version");
    uint16(&mut out, 0);
    string(&mut out, "build_epoch");
    uint64(&mut out, 1_700_000_000);
    string(&mut out, "database_type");
    string(&mut out, "Forecourt-Test-Country-ASN");
    string(&mut out, "description");
    map(&mut out, 1);
    string(&mut out, "en");
    string(&mut out, "made by Forecourt's tests");
    string(&mut out, "ip_version");
    uint16(&mut out, 4);
    string(&mut out, "languages");
    out.extend_from_slice(&[0x01, 0x04]); // an array (extended type 11) of 1
    string(&mut out, "en");
    string(&mut out, "node_count");
    uint32(&mut out, count as u32);
    string(&mut out, "record_size");
    uint16(&mut out, 24);
    out
}

/// A control byte: `kind` in the top three bits, `size` (< 29) in the low five.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    assert!(size < 29);
    out.push(kind << 5 | size as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn map(out: &mut Vec<u8>, pairs: usize) {
    control(out, 7, pairs);
}

fn uint(out: &mut Vec<u8>, kind: u8, bytes: &[u8]) {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    control(out, kind, trimmed.len());
    out.extend_from_slice(&trimmed);
}

fn uint16(out: &mut Vec<u8>, v: u16) {
    uint(out, 5, &v.to_be_bytes());
}

fn uint32(out: &mut Vec<u8>, v: u32) {
    uint(out, 6, &v.to_be_bytes());
}

fn uint64(out: &mut Vec<u8>, v: u64) {
    // Extended type 9: the control byte's type bits are 0, the next byte is 9 - 7.
    let trimmed: Vec<u8> = v.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
    out.push(trimmed.len() as u8);
    out.push(2);
    out.extend_from_slice(&trimmed);
}
