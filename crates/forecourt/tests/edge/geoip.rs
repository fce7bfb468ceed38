//! GeoIP (`[geoip]`) with a small MaxMind database the test writes: a client's country
//! and ASN reach the upstream as headers (a client's own copies dropped) and the access
//! log; lists deny by country and by ASN; a route matches on country; the database is
//! read again when its file changes, and a broken file keeps the one in use.
use super::common::mmdb::{self, Entry};
use super::common::origin::Origin;
use super::common::*;
use super::get_from;
use std::time::Duration;

fn database(sixth: &'static str) -> Vec<u8> {
    let at = |last: u8, country: &'static str, asn: u32| Entry { network: [127, 0, 0, last], prefix: 32, country, asn };
    mmdb::build(&[at(2, "DE", 64496), at(3, "FR", 64497), at(4, "KP", 64498), at(6, sixth, 64499)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn countries_and_asns_reach_the_upstream_lists_and_routes_and_the_database_reloads() {
    let origin = Origin::start("o");
    let dir = TempDir::new("geoip");
    let db = dir.path("geo.mmdb");
    std::fs::write(&db, database("US")).unwrap();
    let config = format!(
        "[global]\nworkers = 2\naccess_log = \"{{dir}}/access.log\"\n\n[geoip]\ndatabases = [\"{db}\"]\n\n\
         [lists.sanctioned]\ncountries = [\"kp\"]\n[lists.bad_network]\nasns = [64497]\n\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\n\
         [[route]]\nname = \"eu\"\npath = \"/\"\ncountries = [\"DE\", \"AT\"]\nrespond = {{ status = 200, body = \"region:eu\" }}\n\n\
         [[route]]\nname = \"world\"\npath = \"/\"\nupstream = \"o\"\ndeny = [\"sanctioned\", \"bad_network\"]\n\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    );
    let fc = Forecourt::start(&config);
    let from = |last: u8| client_from(&format!("127.0.0.{last}"));
    assert_eq!(get_from(&from(2), &fc.url("/")).await.body, "region:eu");
    assert_eq!(get_from(&from(3), &fc.url("/")).await.status, 403, "denied by ASN");
    assert_eq!(get_from(&from(4), &fc.url("/")).await.status, 403, "denied by country");
    let us = get_from(&from(6), &fc.url("/")).await;
    assert!(us.body.contains("x-country-code: US\n") && us.body.contains("x-asn: 64499\n"), "{}", us.body);
    // A client's own country header is dropped: an unknown address has none.
    let spoof = http::Request::get(fc.url("/")).header("x-country-code", "DE").body(Default::default()).unwrap();
    let unknown = send(&from(5), spoof).await;
    assert!(unknown.status == 200 && !unknown.body.contains("x-country-code"), "{}", unknown.body);
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"country\":\"US\"") && log.contains("\"asn\":\"64499\""), "{log}");
    assert!(log.contains("\"ip_list\":\"denied:sanctioned\""), "{log}");

    // The file changes: read again within a few seconds.
    std::thread::sleep(Duration::from_millis(1100)); // a distinct modification time
    std::fs::write(&db, database("CA")).unwrap();
    let url = fc.url("/");
    let six = from(6);
    let rt = tokio::runtime::Handle::current();
    let country_is = |code: &str| {
        let body = tokio::task::block_in_place(|| rt.block_on(get_from(&six, &url))).body;
        body.contains(&format!("x-country-code: {code}\n"))
    };
    assert!(eventually(Duration::from_secs(6), || country_is("CA")));
    // A broken file keeps the database in use, and says why.
    std::fs::write(&db, b"not a database").unwrap();
    assert!(eventually(Duration::from_secs(6), || fc.stderr().contains("keeping the one in use")), "{}", fc.stderr());
    assert!(country_is("CA"));
}

#[test]
fn bad_geoip_options_point_at_the_mistake() {
    let dir = TempDir::new("geoip-check");
    let path = dir.file(
        "bad.toml",
        "[geoip]\ndatabases = [\"missing.mmdb\"]\n[[route]]\nrespond = { status = 200 }\ncountries = [\"Germany\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad.toml:2:14: cannot load the GeoIP database"), "{text}");
    let path = dir.file(
        "none.toml",
        "[lists.x]\ncountries = [\"CN\"]\n[[route]]\nrespond = { status = 200 }\ncountries = [\"DE\"]\ndeny = [\"x\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    for expected in ["none.toml:2:14: countries and asns need [geoip]", "none.toml:5:14: countries needs [geoip]"] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    std::fs::write(dir.path("ok.mmdb"), database("US")).unwrap();
    let path = dir.file(
        "code.toml",
        "[geoip]\ndatabases = [\"ok.mmdb\"]\n[[route]]\nrespond = { status = 200 }\ncountries = [\"Germany\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("code.toml:5:14: `Germany` is not a country code"), "{text}");
}

/// A database read as it stands (a file copied over while in use is read again however far
/// the copy got): every cut and every flipped byte of a small one gives an error or a
/// place, never a panic (the release build aborts on one: every connection would go).
#[test]
fn a_damaged_database_gives_an_error_or_a_place_never_a_panic() {
    let db = database("CH");
    let client = "127.0.0.2".parse().unwrap();
    let place = forecourt_edge::geoip::lookup_in(db.clone(), client).unwrap();
    assert_eq!((place.country_str(), place.asn), (Some("DE"), Some(64496)));
    let (mut refused, mut read) = (0, 0);
    for cut in 0..db.len() {
        match forecourt_edge::geoip::lookup_in(db[..cut].to_vec(), client) {
            Ok(_) => read += 1,
            Err(_) => refused += 1,
        }
    }
    for at in 0..db.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut damaged = db.clone();
            damaged[at] ^= flip;
            match forecourt_edge::geoip::lookup_in(damaged, client) {
                Ok(_) => read += 1,
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0 && read > 0, "{refused} refused, {read} read");
}
