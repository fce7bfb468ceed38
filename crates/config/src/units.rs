//! Durations ("500ms", "30s", "5m", "1h", "1d") and sizes ("512", "64k", "10m", "1g").
use crate::model::Size;
use forecourt_proxy::LONGEST_DURATION;
use std::time::Duration;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("bad duration `{s}`"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        "" => return Err(format!("bad duration `{s}`: add a unit (ms, s, m, h or d), e.g. \"{s}s\"")),
        _ => return Err(format!("bad duration `{s}`: unknown unit `{unit}` (use ms, s, m, h or d)")),
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= LONGEST_DURATION => Ok(d),
        _ => Err(format!("duration `{s}` is too long: at most {}d", LONGEST_DURATION.as_secs() / 86_400)),
    }
}

pub fn parse_size(size: &Size) -> Result<u64, String> {
    let s = match size {
        Size::Bytes(n) => return Ok(*n),
        Size::Text(s) => s.trim().to_ascii_lowercase(),
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: u64 = num.parse().map_err(|_| format!("bad size `{s}`"))?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("bad size `{s}`: use a number of bytes or k, m, g (e.g. \"10m\")")),
    };
    value.checked_mul(mult).ok_or_else(|| format!("size `{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10").unwrap_err().contains("add a unit"));
        assert!(parse_duration("10 years").is_err());
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("99999999999999999999999d").unwrap_err().contains("too long"));
        // Within `Duration`'s range, but past what a clock reading can have added to it.
        assert!(parse_duration("150000000000000d").unwrap_err().contains("at most 3650d"));
        assert_eq!(parse_duration("3650d"), Ok(Duration::from_secs(3650 * 86400)));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(&Size::Bytes(7)), Ok(7));
        assert_eq!(parse_size(&Size::Text("64k".into())), Ok(65536));
        assert_eq!(parse_size(&Size::Text("10MB".into())), Ok(10 << 20));
        assert!(parse_size(&Size::Text("ten".into())).is_err());
    }
}
