//! The access log: one line per request, JSON lines (default) or the `combined` format.
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Combined,
}

enum Sink {
    Stdout,
    File(File),
}

pub struct AccessLog {
    sink: Sink,
    format: LogFormat,
}

/// Everything one line says.
#[derive(Default, Debug)]
pub struct LogFields {
    pub client: Option<SocketAddr>,
    pub method: String,
    pub host: String,
    pub uri: String,
    pub version: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
    pub upstream: Option<String>,
    pub upstream_time: Option<Duration>,
    pub route: String,
    pub request_id: String,
    pub user_agent: String,
    pub referer: String,
    /// False when the response was cut short (client gone, upstream broke mid-body).
    pub complete: bool,
    /// Fields that filters added (`RequestCtx::log`), in the order they were added.
    pub extra: Vec<(&'static str, String)>,
}

impl LogFields {
    /// Names one more server tried for this request (nginx's `$upstream_addr` lists them
    /// the same way: "a, b").
    pub fn add_upstream(&mut self, label: &str) {
        match &mut self.upstream {
            Some(list) => {
                list.push_str(", ");
                list.push_str(label);
            }
            None => self.upstream = Some(label.to_string()),
        }
    }
}

impl AccessLog {
    /// `target` is "stdout" or a file path (opened for appending).
    pub fn open(target: &str, format: LogFormat) -> std::io::Result<AccessLog> {
        let sink = if target == "stdout" {
            Sink::Stdout
        } else {
            Sink::File(std::fs::OpenOptions::new().create(true).append(true).open(target)?)
        };
        Ok(AccessLog { sink, format })
    }

    pub fn write(&self, f: &LogFields) {
        let mut line = String::with_capacity(320);
        match self.format {
            LogFormat::Json => json_line(&mut line, f),
            LogFormat::Combined => combined_line(&mut line, f),
        }
        line.push('\n');
        // One write per line: appends from several workers never interleave.
        let _ = match &self.sink {
            Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Sink::File(file) => (&*file).write_all(line.as_bytes()),
        };
    }
}

/// Bytes as nginx's access log writes what a client sent: printable ASCII as it is, any
/// other byte, `"` and `\` as `\xHH`, so a line stays one line of text whatever came.
pub fn escaped_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            0x20..=0x7e if b != b'"' && b != b'\\' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
    out
}

fn json_line(out: &mut String, f: &LogFields) {
    let now = SystemTime::now();
    out.push_str("{\"time\":\"");
    rfc3339(out, now);
    out.push('"');
    field(out, "client", &f.client.map(|c| c.ip().to_string()).unwrap_or_default());
    field(out, "method", &f.method);
    field(out, "host", &f.host);
    field(out, "path", &f.uri);
    field(out, "protocol", f.version);
    let _ = write!(
        out,
        ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3}",
        f.status,
        f.bytes,
        f.duration.as_secs_f64() * 1e3
    );
    if let Some(up) = &f.upstream {
        field(out, "upstream", up);
    }
    if let Some(t) = f.upstream_time {
        let _ = write!(out, ",\"upstream_ms\":{:.3}", t.as_secs_f64() * 1e3);
    }
    field(out, "route", &f.route);
    field(out, "request_id", &f.request_id);
    field(out, "user_agent", &f.user_agent);
    for (name, value) in &f.extra {
        field(out, name, value);
    }
    if !f.complete {
        out.push_str(",\"aborted\":true");
    }
    out.push('}');
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, ",\"{name}\":\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `client - - [time] "METHOD uri PROTO" status bytes "referer" "user-agent"`
fn combined_line(out: &mut String, f: &LogFields) {
    let client = f.client.map(|c| c.ip().to_string()).unwrap_or_else(|| "-".into());
    let (y, mo, d, h, mi, s, _) = civil(SystemTime::now());
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let quoted = |v: &str| if v.is_empty() { "-".to_string() } else { v.replace('"', "\\\"") };
    let _ = write!(out, "{client} - - [{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000] ", MONTHS[mo as usize - 1]);
    // A refused line that was no request line is shown whole (its method field), as it came.
    let _ = match f.version {
        "" => write!(out, "\"{}\"", f.method),
        version => write!(out, "\"{} {} {version}\"", f.method, quoted(&f.uri)),
    };
    let _ = write!(out, " {} {} \"{}\" \"{}\"", f.status, f.bytes, quoted(&f.referer), quoted(&f.user_agent));
}

fn rfc3339(out: &mut String, t: SystemTime) {
    let (y, mo, d, h, mi, s, ms) = civil(t);
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z");
}

/// UTC calendar fields of `t` (Howard Hinnant's days-to-civil algorithm).
fn civil(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, since.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = String::new();
        rfc3339(&mut s, t);
        assert_eq!(s, "2023-11-14T22:13:20.000Z");
        let (y, m, d, ..) = civil(UNIX_EPOCH + Duration::from_secs(951_782_400)); // 2000-02-29
        assert_eq!((y, m, d), (2000, 2, 29));
    }

    #[test]
    fn json_escapes_and_combined_shape() {
        let f = LogFields {
            method: "GET".into(),
            uri: "/a\"b".into(),
            version: "HTTP/1.1",
            status: 200,
            complete: true,
            ..Default::default()
        };
        let mut s = String::new();
        json_line(&mut s, &f);
        assert!(s.contains("\"path\":\"/a\\\"b\""), "{s}");
        let mut with_extra = String::new();
        json_line(&mut with_extra, &LogFields { extra: vec![("cache", "HIT".into())], ..Default::default() });
        assert!(with_extra.contains(",\"cache\":\"HIT\""), "{with_extra}");
        let mut c = String::new();
        combined_line(&mut c, &f);
        assert!(c.starts_with("- - - ["), "{c}");
        assert!(c.ends_with("\"GET /a\\\"b HTTP/1.1\" 200 0 \"-\" \"-\""), "{c}");
        // A refused line that was no request line: shown whole, as nginx's `$request`.
        let mut junk = String::new();
        combined_line(
            &mut junk,
            &LogFields { method: escaped_bytes(b"\x16\x03 \"x\""), status: 400, ..Default::default() },
        );
        assert!(junk.ends_with("\"\\x16\\x03 \\x22x\\x22\" 400 0 \"-\" \"-\""), "{junk}");
    }
}
