//! Requests refused before the chains count for ban rules as the answers they got: a
//! scanner's malformed heads (`status:400`, `bad_request`) and a slowloris's heads that
//! never end (`status:408`) ban their client, as fail2ban bans on nginx's 400 and 408
//! lines, the refusal's own line saying so; a trusted proxy whose head was refused unread
//! is never struck. HTTP/2 connections cut off for abuse strike too (`h2_flood`,
//! `h2_bad_preface`), as HAProxy tracks a client's protocol glitches.
use super::common::origin::Origin;
use super::common::*;
use super::h2_floods::{frame, goaway_code, h2_flood};
use super::{config_with, exchange_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_abandoned_heads_strike_their_clients() {
    let origin = Origin::start("o");
    let admin = free_port();
    let tables = "[bans]\n\
                  [bans.rules.malformed]\non = [\"bad_request\"]\ncount = 3\nwindow = \"1m\"\nduration = \"10m\"\n\
                  [bans.rules.slow]\non = [\"status:408\"]\ncount = 2\nwindow = \"1m\"\nduration = \"10m\"\n";
    let global = "trusted_proxies = [\"127.0.0.7\"]\n[global.timeouts]\nclient_header = \"300ms\"";
    let fc = Forecourt::start(&config_with(&origin, admin, tables, "", "", global));
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let bare_lf = b"GET / HTTP/1.1\nHost: a\r\n\r\n";
    let chunk = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    // A scanner: three malformed requests (two heads the parser refused, a bad first chunk).
    for bytes in [&bare_lf[..], &bare_lf[..], &chunk[..]] {
        assert_eq!(statuses(&exchange_from("127.0.0.5", fc.addr(), bytes).await), [400]);
    }
    assert_eq!(exchange_from("127.0.0.5", fc.addr(), whole).await, "", "banned: closed at accept");
    // A slowloris: two heads that never end.
    for _ in 0..2 {
        assert_eq!(exchange_from("127.0.0.6", fc.addr(), b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ").await, "");
    }
    assert_eq!(exchange_from("127.0.0.6", fc.addr(), whole).await, "", "banned: closed at accept");
    // A trusted proxy's malformed heads say nothing of whom they came for: not struck.
    for _ in 0..4 {
        assert_eq!(statuses(&exchange_from("127.0.0.7", fc.addr(), bare_lf).await), [400]);
    }
    assert_eq!(statuses(&exchange_from("127.0.0.7", fc.addr(), whole).await), [200], "the proxy is not banned");
    assert_eq!(statuses(&exchange_from("127.0.0.8", fc.addr(), whole).await), [200], "nor anyone else");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"malformed\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"slow\"}"), 1.0, "{metrics}");
    assert_eq!(origin.hits(), 2, "only the whole requests reached the origin");
    // The refusals' lines say which one started each ban, as a served request's would.
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    let tripped: Vec<(String, u64)> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["ban"].as_str().is_some_and(|b| b.ends_with(":tripped")))
        .map(|l| (l["ban"].as_str().unwrap().to_string(), l["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(tripped, [("malformed:tripped".to_string(), 400), ("slow:tripped".to_string(), 408)], "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connections_cut_off_for_abuse_strike_their_clients() {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const GET: &[u8] = &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'];
    let origin = Origin::start("o");
    let admin = free_port();
    let tables = "[bans]\n[bans.rules.abusers]\non = [\"h2_flood\", \"h2_bad_preface\"]\ncount = 2\nwindow = \"1m\"\n";
    let fc = Forecourt::start(&config_with(&origin, admin, tables, "", "", ""));
    // Rapid reset: a thousand streams opened and cancelled at once.
    let mut reset = [PREFACE, &frame(4, 0, 0, &[])].concat();
    for id in (1..2000u32).step_by(2) {
        reset.extend(frame(1, 0x5, id, GET));
        reset.extend(frame(3, 0, id, &8u32.to_be_bytes()));
    }
    let reply = h2_flood("127.0.0.3", fc.addr(), reset).await;
    assert_eq!(goaway_code(&reply), Some(11), "ENHANCE_YOUR_CALM");
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(statuses(&exchange_from("127.0.0.3", fc.addr(), whole).await), [200], "one strike of two");
    let bad = h2_flood("127.0.0.3", fc.addr(), b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".to_vec()).await;
    assert_eq!(goaway_code(&bad), Some(1), "PROTOCOL_ERROR");
    assert_eq!(exchange_from("127.0.0.3", fc.addr(), whole).await, "", "banned: closed at accept");
    assert_eq!(statuses(&exchange_from("127.0.0.4", fc.addr(), whole).await), [200], "another client is served");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"abusers\"}"), 1.0, "{metrics}");
    // The error log names the client and the cause of each cutoff.
    let log = fc.stderr();
    for cause in ["flood", "bad_preface"] {
        let line = format!("client=127.0.0.3 cause=\"{cause}\"");
        assert!(log.lines().any(|l| l.contains("HTTP/2 connection cut off") && l.contains(&line)), "{line}\n{log}");
    }
}
