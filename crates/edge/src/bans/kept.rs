//! The bans in force kept on disk (`[global] data_dir`'s `bans` file), so that a restart
//! — an upgrade, a crash — does not let every banned client back in, as fail2ban keeps
//! its bans in its database. One ban a line, `EXPIRES ADDRESS SOURCE`: when it ends
//! (seconds since the Unix epoch), the client as the admin API lists it (an address, or
//! an IPv6 prefix), and who banned it (`rule NAME`, `api REASON`, `shared WHO`). With
//! `[redis]`, a comment line `# redis epoch EPOCH` names the Redis these bans were last
//! shared through (`shared.rs`), so that a start can tell a Redis that lost them from one
//! where they were lifted. Written whole by the ban sweeper's thread when the bans
//! changed, never by a worker.
use super::table::{BanView, Source};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const FIRST_LINE: &str = "# Forecourt: the bans in force (expires, address, source); rewritten as they change";
const EPOCH_LINE: &str = "# redis epoch ";

/// A ban read back.
#[derive(Debug, PartialEq)]
pub struct KeptBan {
    pub address: String,
    /// How long it has still to run.
    pub remaining: Duration,
    pub source: Source,
}

/// What a file held: the bans still to run, how many lines were expired or damaged, and
/// the epoch of the Redis they were last shared through.
#[derive(Debug, Default, PartialEq)]
pub struct Read {
    pub bans: Vec<KeptBan>,
    pub expired: usize,
    pub bad: usize,
    pub epoch: Option<String>,
}

/// Writes `bans` whole (`state_file`; not synced: written again within a second of every
/// change, it is kept for a restart or a crash of the process, not for a power cut).
pub fn write(path: &Path, bans: &[BanView], epoch: Option<&str>) -> std::io::Result<()> {
    let mut text = format!("{FIRST_LINE}\n");
    if let Some(epoch) = epoch.filter(|e| !e.contains(['\n', '\r'])) {
        text.push_str(&format!("{EPOCH_LINE}{epoch}\n"));
    }
    for ban in bans {
        let (tag, detail) = match &ban.source {
            Source::Rule(name) => ("rule", name.as_str()),
            Source::Api(reason) => ("api", reason.as_str()),
            Source::Shared(who) => ("shared", who.as_str()),
        };
        // The API takes reasons without control characters; another instance's could.
        let detail: String = detail.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        text.push_str(&format!("{} {} {tag} {detail}\n", ban.expires, ban.address));
    }
    crate::state_file::write_whole(path, text.as_bytes(), false)
}

/// The bans at `path` that still run at `now` (none when there is no file).
pub fn read(path: &Path, now: SystemTime) -> Result<Read, String> {
    let Some(text) = crate::state_file::read(path)? else { return Ok(Read::default()) };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let epoch = text.lines().find_map(|l| l.strip_prefix(EPOCH_LINE)).map(str::to_owned);
    let mut read = Read { epoch, ..Read::default() };
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        match parse(line) {
            Some((expires, _, _)) if expires <= now => read.expired += 1,
            Some((expires, address, source)) => read.bans.push(KeptBan { address, remaining: expires - now, source }),
            None => read.bad += 1,
        }
    }
    Ok(read)
}

fn parse(line: &str) -> Option<(Duration, String, Source)> {
    let mut fields = line.splitn(4, ' ');
    let expires = Duration::from_secs(fields.next()?.parse().ok()?);
    let address = fields.next().filter(|a| !a.is_empty())?.to_owned();
    let (tag, detail) = (fields.next()?, fields.next().unwrap_or("").to_owned());
    let source = match tag {
        "rule" if !detail.is_empty() => Source::Rule(detail),
        "api" => Source::Api(detail),
        "shared" => Source::Shared(detail),
        _ => return None,
    };
    Some((expires, address, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(address: &str, expires: u64, source: Source) -> BanView {
        BanView { address: address.into(), expires, remaining: Duration::ZERO, source }
    }

    #[test]
    fn bans_read_back_with_their_sources_and_what_remains_of_them() {
        let dir = std::env::temp_dir().join(format!("forecourt-kept-bans-{}", std::process::id()));
        let path = dir.join("bans");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let bans = [
            view("127.0.0.4", 1_800_003_600, Source::Rule("flooders".into())),
            view("2001:db8::/64", 1_800_000_060, Source::Api("abuse, said\nby ops".into())),
            view("127.0.0.5", 1_800_000_600, Source::Api(String::new())),
            view("10.0.0.9", 1_800_000_010, Source::Shared("rule:scanners".into())),
            view("10.0.0.8", 1_799_999_999, Source::Rule("scanners".into())),
        ];
        write(&path, &bans, Some("7f-1800000000000")).unwrap();
        let read = read(&path, now).unwrap();
        assert_eq!(read.epoch.as_deref(), Some("7f-1800000000000"));
        let got: Vec<(&str, u64, &Source)> =
            read.bans.iter().map(|b| (b.address.as_str(), b.remaining.as_secs(), &b.source)).collect();
        assert_eq!(
            got,
            [
                ("127.0.0.4", 3600, &Source::Rule("flooders".into())),
                ("2001:db8::/64", 60, &Source::Api("abuse, said by ops".into())),
                ("127.0.0.5", 600, &Source::Api(String::new())),
                ("10.0.0.9", 10, &Source::Shared("rule:scanners".into())),
            ]
        );
        assert_eq!((read.expired, read.bad), (1, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_lines_are_counted_and_passed_over_and_no_file_is_no_bans() {
        let dir = std::env::temp_dir().join(format!("forecourt-kept-bans-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bans");
        assert_eq!(read(&path, SystemTime::now()).unwrap(), Read::default());
        let far = 4_000_000_000u64;
        std::fs::write(
            &path,
            format!("{FIRST_LINE}\n{far} 127.0.0.2 rule scan\nsoon 127.0.0.3 api\n{far} 127.0.0.4 who\n{far}\n{far} 127.0.0.6 rule\n{far} 127.0.0.7 api\n"),
        )
        .unwrap();
        let read = read(&path, SystemTime::now()).unwrap();
        let addresses: Vec<&str> = read.bans.iter().map(|b| b.address.as_str()).collect();
        assert_eq!(addresses, ["127.0.0.2", "127.0.0.7"]);
        assert_eq!(read.bad, 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
