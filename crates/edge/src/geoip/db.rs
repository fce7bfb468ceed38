//! The GeoIP databases (`[geoip] databases`, MaxMind's format): read whole into memory, and
//! read again when a file changes (checked every two seconds by a thread of its own); a
//! file that fails to load then keeps the copy in use, and the log says why.
use arc_swap::ArcSwap;
use maxminddb::Reader;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

/// What the databases say of one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
}

impl Place {
    pub fn country_str(&self) -> Option<&str> {
        self.country.as_ref().and_then(|c| std::str::from_utf8(c).ok())
    }
}

/// The fields read from a record: a Country/City database's `country.iso_code`, an ASN
/// database's `autonomous_system_number`.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    autonomous_system_number: Option<u32>,
}

#[derive(Deserialize)]
struct Country<'a> {
    iso_code: Option<&'a str>,
}

struct Db {
    path: String,
    reader: ArcSwap<Reader<Vec<u8>>>,
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

pub struct Geo {
    dbs: Vec<Db>,
}

impl Geo {
    /// Opens every database; the first that cannot be read is the error (its index in
    /// `paths`, and why).
    pub fn open(paths: &[String]) -> Result<Arc<Geo>, (usize, String)> {
        let mut dbs = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let reader = load(path).map_err(|e| (i, format!("`{path}`: {e}")))?;
            dbs.push(Db { path: path.clone(), reader: ArcSwap::from_pointee(reader), stamp: Mutex::new(stamp(path)) });
        }
        let geo = Arc::new(Geo { dbs });
        watch(Arc::downgrade(&geo));
        Ok(geo)
    }

    pub fn paths(&self) -> Vec<&str> {
        self.dbs.iter().map(|d| d.path.as_str()).collect()
    }

    /// The country and ASN of `ip`, from the first database that has each.
    pub fn lookup(&self, ip: IpAddr) -> Place {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let mut place = Place::default();
        for db in &self.dbs {
            fill(&mut place, &db.reader.load(), ip);
        }
        place
    }

    /// Reads again the databases whose file changed.
    fn reload_changed(&self) {
        for db in &self.dbs {
            let now = stamp(&db.path);
            let mut seen = db.stamp.lock().unwrap();
            if now.is_none() || now == *seen {
                continue;
            }
            *seen = now;
            match load(&db.path) {
                Ok(reader) => {
                    db.reader.store(Arc::new(reader));
                    tracing::info!(path = %db.path, "GeoIP database reloaded");
                }
                Err(e) => {
                    tracing::warn!(path = %db.path, "GeoIP database could not be reloaded, keeping the one in use: {e}")
                }
            }
        }
    }
}

/// What `reader` says of `ip`, where `place` does not know it yet.
fn fill(place: &mut Place, reader: &Reader<Vec<u8>>, ip: IpAddr) {
    let Ok(Some(record)) = reader.lookup(ip).and_then(|r| r.decode::<Record<'_>>()) else { return };
    if place.country.is_none() {
        place.country = record.country.and_then(|c| c.iso_code).and_then(|code| match code.as_bytes() {
            [a, b] => Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]),
            _ => None,
        });
    }
    place.asn = place.asn.or(record.autonomous_system_number);
}

/// What a database file's contents (`bytes`) say of `ip`, as a lookup reads them: for the
/// fuzz target, which feeds it damaged files (a database copied over while in use is read
/// again as it stands).
pub fn lookup_in(bytes: Vec<u8>, ip: IpAddr) -> Result<Place, String> {
    let reader = Reader::from_source(bytes).map_err(|e| e.to_string())?;
    let mut place = Place::default();
    fill(&mut place, &reader, ip);
    Ok(place)
}

fn load(path: &str) -> Result<Reader<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Reader::from_source(bytes).map_err(|e| format!("not a MaxMind database: {e}"))
}

fn stamp(path: &str) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn watch(geo: Weak<Geo>) {
    let spawned = std::thread::Builder::new().name("geoip-watch".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(2));
        let Some(geo) = geo.upgrade() else { return };
        geo.reload_changed();
    });
    if let Err(e) = spawned {
        tracing::error!("cannot watch the GeoIP databases: {e}");
    }
}
