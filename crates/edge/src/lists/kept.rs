//! A feed's last good copy kept on disk (`[global] data_dir`'s `lists/` folder), so that a
//! restart serves with the list it had rather than with nothing until the feed answers —
//! a deny list left open, an allow list or a CDN's trusted ranges shut, for as long as
//! the feed's server is down — and asks the feed again with the validators it last gave
//! (a 304 costs the publisher nothing; Spamhaus asks that DROP not be fetched more than
//! once an hour). It is written as a plain list with `#` lines naming where it came from,
//! a netset an operator can read; its modification time is when the copy was last
//! confirmed.
use super::text;
use forecourt_proxy::cidr::Cidr;
use http::HeaderValue;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const FIRST_LINE: &str = "# Forecourt: the last good copy of a list feed; rewritten when the feed changes";

/// A copy read back from disk.
#[derive(Debug, PartialEq)]
pub struct Kept {
    pub cidrs: Vec<Cidr>,
    pub etag: Option<HeaderValue>,
    pub last_modified: Option<HeaderValue>,
    /// When it was last confirmed (the file's modification time).
    pub confirmed: Option<SystemTime>,
}

/// Where list `name`'s copy is kept under `folder`: the name as it is, but for bytes a
/// file name should not hold (`%XX`), so no two names share a file.
pub fn path(folder: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    folder.join(format!("{safe}.feed"))
}

/// The copy at `path` of the feed at `url`: `Ok(None)` when there is none, or it is of
/// another URL (the list's feed moved); `Err` when it cannot be read or has bad lines.
pub fn read(path: &Path, url: &str) -> Result<Option<Kept>, String> {
    let Some(text) = crate::state_file::read(path)? else { return Ok(None) };
    let field = |name: &str| text.lines().take(4).find_map(|l| l.strip_prefix(name));
    if !text.starts_with(FIRST_LINE) || field("# url: ") != Some(url) {
        return Ok(None);
    }
    let header = |name: &str| field(name).and_then(|v| HeaderValue::from_str(v).ok());
    let cidrs = text::parse(&text).map_err(|bad| {
        let (line, why) = &bad[0];
        format!("`{}` line {line}: {why}", path.display())
    })?;
    let confirmed = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok(Some(Kept { cidrs, etag: header("# etag: "), last_modified: header("# last-modified: "), confirmed }))
}

/// Writes the copy whole (`state_file`).
pub fn write(
    path: &Path,
    url: &str,
    cidrs: &[Cidr],
    etag: Option<&HeaderValue>,
    last_modified: Option<&HeaderValue>,
) -> std::io::Result<()> {
    let mut text = format!("{FIRST_LINE}\n# url: {url}\n");
    for (name, value) in [("etag", etag), ("last-modified", last_modified)] {
        if let Some(value) = value.and_then(|v| v.to_str().ok()) {
            text.push_str(&format!("# {name}: {value}\n"));
        }
    }
    for cidr in cidrs {
        let (net, bits) = cidr.parts();
        text.push_str(&format!("{net}/{bits}\n"));
    }
    crate::state_file::write_whole(path, text.as_bytes(), true)
}

/// Marks the copy confirmed now (the feed answered 304); `NotFound` when there is none.
pub fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::options().append(true).open(path)?.set_modified(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("forecourt-kept-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn a_copy_reads_back_with_its_validators_and_only_for_its_url() {
        let dir = folder("roundtrip");
        let file = path(&dir, "drop");
        let cidrs: Vec<Cidr> = ["127.0.0.2/32", "2001:db8::/48"].iter().map(|c| c.parse().unwrap()).collect();
        let etag = HeaderValue::from_static("\"v1\"");
        let date = HeaderValue::from_static("Mon, 07 Dec 2026 05:00:00 GMT");
        write(&file, "https://feed.example/drop.txt", &cidrs, Some(&etag), Some(&date)).unwrap();
        let kept = read(&file, "https://feed.example/drop.txt").unwrap().unwrap();
        assert_eq!(kept.cidrs, cidrs);
        assert_eq!((kept.etag, kept.last_modified), (Some(etag), Some(date)));
        assert!(kept.confirmed.is_some());
        assert_eq!(read(&file, "https://elsewhere.example/drop.txt").unwrap(), None, "another URL's copy");
        assert_eq!(read(&path(&dir, "other"), "https://feed.example/drop.txt").unwrap(), None, "none kept");
        // Written without validators, it reads back without them.
        write(&file, "https://feed.example/drop.txt", &cidrs[..1], None, None).unwrap();
        let kept = read(&file, "https://feed.example/drop.txt").unwrap().unwrap();
        assert_eq!((kept.cidrs.len(), kept.etag, kept.last_modified), (1, None, None));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_copy_is_an_error_and_a_foreign_file_is_none() {
        let dir = folder("damaged");
        std::fs::create_dir_all(&dir).unwrap();
        let file = path(&dir, "drop");
        std::fs::write(&file, format!("{FIRST_LINE}\n# url: http://f/x\n127.0.0.2/32\n127.0.0.300\n")).unwrap();
        let why = read(&file, "http://f/x").unwrap_err();
        assert!(why.contains("line 4"), "{why}");
        std::fs::write(&file, "127.0.0.2\n").unwrap();
        assert_eq!(read(&file, "http://f/x").unwrap(), None, "not a copy Forecourt wrote");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_map_to_distinct_plain_file_names() {
        let dir = Path::new("/var/lib/forecourt/lists");
        assert_eq!(path(dir, "spamhaus-drop_v4"), dir.join("spamhaus-drop_v4.feed"));
        assert_eq!(path(dir, "../x"), dir.join("%2E%2E%2Fx.feed"));
        assert_ne!(path(dir, "a.b"), path(dir, "a%2Eb"));
    }

    #[test]
    fn touching_marks_the_copy_confirmed_now() {
        let dir = folder("touch");
        let file = path(&dir, "drop");
        assert_eq!(touch(&file).unwrap_err().kind(), std::io::ErrorKind::NotFound);
        write(&file, "http://f/x", &[], None, None).unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().append(true).open(&file).unwrap().set_modified(old).unwrap();
        touch(&file).unwrap();
        let confirmed = read(&file, "http://f/x").unwrap().unwrap().confirmed.unwrap();
        assert!(confirmed.elapsed().unwrap() < std::time::Duration::from_secs(60));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
