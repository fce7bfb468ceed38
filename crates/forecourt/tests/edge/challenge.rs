//! Challenge pages (`[challenge]`): headless Debian chromium solves the proof of work in
//! its Web Worker and reaches the origin, while a client without JavaScript gets the page
//! and the origin sees nothing; passes are bound to the client's address, and forged,
//! replayed, expired or unsolved ones are refused; rules, the "under attack" switch, a
//! limit with `action = "challenge"`, exempt paths and clients, the no-JavaScript wait, bans on
//! challenge failures, and the counters; passes hold at another instance sharing Redis,
//! and they and the admin API's "under attack" switch after a restart.
use super::common::chromium::Chromium;
use super::common::origin::Origin;
use super::common::redis_server::RedisServer;
use super::common::*;
use forecourt_edge::challenge::token::{solve, solves};
use http_body_util::Full;
use std::time::{Duration, Instant};

fn challenge_config(origin: &Origin, admin: u16, tables: &str, route_extra: &str) -> String {
    format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\n\n{tables}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\n[[route]]\npath = \"/limited\"\nupstream = \"o\"\n\
         limits = [\"human_rate\"]\n\n[[route]]\npath = \"/\"\nupstream = \"o\"\n{route_extra}\n\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    )
}

async fn request(c: &HttpClient, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut b = http::Request::get(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(c, b.body(Full::default()).unwrap()).await
}

/// The puzzle a challenge page carries.
fn puzzle_of(page: &Reply) -> String {
    assert_eq!(page.status, 403, "{}", page.body);
    let at = page.body.find("data-puzzle=\"").expect("a challenge page") + "data-puzzle=\"".len();
    page.body[at..].split('"').next().unwrap().to_owned()
}

/// The `name=value` of the pass a 303 sets.
fn pass_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    reply.header("set-cookie").split(';').next().unwrap().to_owned()
}

fn verify_url(fc: &Forecourt, puzzle: &str, nonce: &str, back: &str) -> String {
    fc.url(&format!("/.forecourt/challenge/verify?p={puzzle}&n={nonce}&r={back}"))
}

const BROWSER: (&str, &str) = ("user-agent", "Mozilla/5.0 (X11; Linux x86_64)");
const TOOL: (&str, &str) = ("user-agent", "curl/8.0");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_solves_the_challenge_and_a_client_without_javascript_does_not_get_through() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&challenge_config(
        &origin,
        free_port(),
        "[challenge]\ndifficulty = 14\n[limits.human_rate]\nrate = \"100/s\"\n",
        "challenge = true",
    ));
    let page = get(&fc.url("/welcome?from=test")).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("<html lang=\"en\">") && page.body.contains("role=\"status\""), "{}", page.body);
    assert!(page.body.contains("/.forecourt/challenge/worker.js"));
    assert_eq!(origin.hits(), 0, "a client that runs no script never reaches the origin");
    let worker = get(&fc.url("/.forecourt/challenge/worker.js")).await;
    assert!(worker.status == 200 && worker.header("content-type").starts_with("text/javascript"));

    let started = Instant::now();
    let browser = Chromium::open(&fc.url("/welcome?from=test"));
    assert!(browser.wait_for(Duration::from_secs(30), || origin.hits() > 0), "chromium never reached the origin");
    let solved_in = started.elapsed();
    let back = fc.url("/welcome?from=test");
    assert!(
        browser.wait_for(Duration::from_secs(5), || browser.page_urls().contains(&back)),
        "{:?}",
        browser.page_urls()
    );
    // A request's access-log line is written once its answer has gone out: the page's may
    // follow the origin's hit by a moment.
    let reached = |l: &str| {
        l.contains("/welcome?from=test") && l.contains("\"status\":200") && l.contains("\"challenge\":\"pass\"")
    };
    let log_has = || std::fs::read_to_string(fc.dir.path("access.log")).is_ok_and(|log| log.lines().any(reached));
    browser.wait_for(Duration::from_secs(5), log_has);
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    let passed = log.lines().find(|l| l.contains("\"challenge\":\"passed\"")).expect("a pass in the log");
    assert!(passed.contains("HeadlessChrome") && passed.contains("\"status\":303"), "{passed}");
    assert!(log.lines().any(reached), "{log}");
    eprintln!("chromium solved a difficulty-14 challenge and reached the origin in {solved_in:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_are_bound_to_their_address_and_forged_replayed_expired_or_unsolved_ones_fail() {
    let origin = Origin::start("o");
    let admin = free_port();
    let tables = "[challenge]\ndifficulty = 8\npass_for = \"3s\"\nno_js_wait = \"1s\"\nexempt = [\"/public/\"]\n\
                  exempt_clients = [\"monitoring\"]\n[lists.monitoring]\ncidrs = [\"127.0.0.7\"]\n\
                  [challenge.rules.tools]\nuser_agent = \"(?i)curl|python|^$\"\n\
                  [limits.human_rate]\nrate = \"1/s\"\naction = \"challenge\"\n\
                  [bans]\n[bans.rules.puzzle_guessers]\non = [\"challenge_failed\"]\ncount = 10\nwindow = \"1m\"\n";
    let fc = Forecourt::start(&challenge_config(&origin, admin, tables, ""));
    let (two, three) = (client_from("127.0.0.2"), client_from("127.0.0.3"));

    // A rule picks who is challenged; exempt paths and other clients pass.
    let page = request(&two, &fc.url("/a"), &[TOOL]).await;
    let puzzle = puzzle_of(&page);
    assert_eq!(request(&two, &fc.url("/a"), &[BROWSER]).await.status, 200);
    for path in ["/robots.txt", "/.well-known/security.txt", "/public/logo.svg"] {
        assert_eq!(request(&two, &fc.url(path), &[TOOL]).await.status, 200, "{path} is never challenged");
    }
    assert_eq!(origin.hits(), 4);
    // An exempt prefix does not carry a path that climbs out of it, however it is spelt.
    for path in ["/.well-known/../a", "/public/%2e%2e/a", "/public%2F..%2Fa", "/robots.txt/../a"] {
        let answer = request(&two, &fc.url(path), &[TOOL]).await;
        assert_eq!(answer.status, page.status, "{path} is /a: {}", answer.body);
        puzzle_of(&answer);
    }
    assert_eq!(origin.hits(), 4);

    // A wrong nonce, or the right one from another address, fails; the right one earns a pass.
    let nonce = solve(&puzzle, 8);
    let wrong = (0..).map(|n: u32| n.to_string()).find(|n| !solves(&puzzle, n, 8)).unwrap();
    let failed = request(&two, &verify_url(&fc, &puzzle, &wrong, "%2Fa"), &[]).await;
    assert_eq!(failed.status, 403);
    assert_eq!(request(&three, &verify_url(&fc, &puzzle, &nonce, "%2Fa"), &[]).await.status, 403);
    let earned = request(&two, &verify_url(&fc, &puzzle, &nonce, "%2Fa%3Fx%3D1"), &[]).await;
    let pass = pass_of(&earned);
    let earned_at = Instant::now();
    assert_eq!(earned.header("location"), "/a?x=1");
    assert!(earned.header("set-cookie").contains("HttpOnly") && earned.header("set-cookie").contains("Max-Age=3"));
    assert_eq!(request(&two, &verify_url(&fc, &puzzle, &nonce, "%2Fa"), &[]).await.status, 403, "replayed");

    // The pass lets its address through, not another; a forged one is no pass.
    let through = request(&two, &fc.url("/a"), &[TOOL, ("cookie", &pass)]).await;
    assert!(through.status == 200 && through.body.contains("origin=o"), "{}", through.body);
    assert_eq!(request(&three, &fc.url("/a"), &[TOOL, ("cookie", &pass)]).await.status, 403, "wrongly bound");
    let mut forged = pass.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(request(&two, &fc.url("/a"), &[TOOL, ("cookie", &forged)]).await.status, 403, "forged");

    // Under attack (admin API): every visitor without a pass, browsers too.
    let switched = admin_call(admin, "PUT", "/api/challenge", "{\"under_attack\":true}").await;
    assert!(switched.contains("\"under_attack\":true"), "{switched}");
    let four = client_from("127.0.0.4");
    assert_eq!(request(&four, &fc.url("/b"), &[BROWSER]).await.status, 403);
    assert_eq!(request(&two, &fc.url("/b"), &[BROWSER, ("cookie", &pass)]).await.status, 200, "a pass holds");
    let monitor = client_from("127.0.0.7");
    assert_eq!(request(&monitor, &fc.url("/b"), &[TOOL]).await.status, 200, "a client of exempt_clients never is");
    let switched = admin_call(admin, "PUT", "/api/challenge", "{\"under_attack\":false}").await;
    assert!(switched.contains("\"under_attack\":false"), "{switched}");
    assert_eq!(request(&four, &fc.url("/b"), &[BROWSER]).await.status, 200);

    // A limit with action "challenge": over the rate, a client without a pass gets the
    // page, one with a pass goes on.
    let five = client_from("127.0.0.5");
    assert_eq!(request(&five, &fc.url("/limited"), &[BROWSER]).await.status, 200);
    let over = request(&five, &fc.url("/limited"), &[BROWSER]).await;
    let puzzle5 = puzzle_of(&over);
    let pass5 = pass_of(&request(&five, &verify_url(&fc, &puzzle5, &solve(&puzzle5, 8), "%2F"), &[]).await);
    assert_eq!(request(&five, &fc.url("/limited"), &[BROWSER, ("cookie", &pass5)]).await.status, 200);
    // A client of exempt_clients is never shown the page: over the limit, its 429.
    assert_eq!(request(&monitor, &fc.url("/limited"), &[TOOL]).await.status, 200);
    let refused = request(&monitor, &fc.url("/limited"), &[TOOL]).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(!refused.header("retry-after").is_empty(), "{:?}", refused.headers);

    // Without JavaScript: the meta refresh's wait, not sooner.
    let waiting = puzzle_of(&request(&four, &fc.url("/c"), &[TOOL]).await);
    assert!(request(&four, &fc.url("/c"), &[TOOL]).await.body.contains("http-equiv=\"refresh\" content=\"1;url="));
    let wait_url = fc.url(&format!("/.forecourt/challenge/wait?p={waiting}&r=%2Fc"));
    assert_eq!(request(&four, &wait_url, &[]).await.status, 403, "too early");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(pass_of(&request(&four, &wait_url, &[]).await).split('=').next(), Some("forecourt_pass"));

    // The pass expires.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(earned_at.elapsed()) + Duration::from_millis(100)).await;
    assert_eq!(request(&two, &fc.url("/a"), &[TOOL, ("cookie", &pass)]).await.status, 403, "expired");

    // Ten failures from one address ban it.
    let six = client_from("127.0.0.6");
    for _ in 0..10 {
        assert_eq!(request(&six, &verify_url(&fc, &puzzle, "1", "%2F"), &[]).await.status, 403);
    }
    let banned = request(&six, &fc.url("/a"), &[BROWSER]).await;
    assert!(banned.status == 403 && banned.body.contains("refused for a while"), "{}", banned.body);

    let metrics = admin_call(admin, "GET", "/metrics", "").await;
    assert_eq!(metric(&metrics, "forecourt_challenges_total{outcome=\"passed\"}"), 3.0);
    assert!(metric(&metrics, "forecourt_challenges_total{outcome=\"issued\"}") >= 5.0);
    assert!(metric(&metrics, "forecourt_challenges_total{outcome=\"failed\"}") >= 14.0);
    assert!(metric(&metrics, "forecourt_challenge_passes_accepted_total") >= 3.0);
    assert_eq!(metric(&metrics, "forecourt_challenge_under_attack"), 0.0);
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    for word in [
        "failed:unsolved",
        "failed:forged",
        "failed:replayed",
        "failed:too_early",
        "issued:tools",
        "issued:under_attack",
        "issued:limit:human_rate",
    ] {
        assert!(log.contains(word), "no {word} in the access log:\n{log}");
    }
}

/// One request to the admin listener; the body of its answer.
async fn admin_call(admin: u16, method: &str, path: &str, body: &str) -> String {
    let uri = format!("http://127.0.0.1:{admin}{path}");
    let req = http::Request::builder().method(method).uri(uri).body(Full::from(body.to_owned())).unwrap();
    send(&client(), req).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_earned_through_one_instance_holds_at_another_sharing_redis() {
    let redis = RedisServer::start();
    let origin = Origin::start("o");
    let tables = format!(
        "[redis]\nurl = \"{}\"\n[challenge]\ndifficulty = 8\n[limits.human_rate]\nrate = \"100/s\"\n",
        redis.url()
    );
    let a = Forecourt::start(&challenge_config(&origin, free_port(), &tables, "challenge = true"));
    let b = Forecourt::start(&challenge_config(&origin, free_port(), &tables, "challenge = true"));
    let alone = Forecourt::start(&challenge_config(
        &origin,
        free_port(),
        "[challenge]\ndifficulty = 8\n[limits.human_rate]\nrate = \"100/s\"\n",
        "challenge = true",
    ));
    // Both instances take the secret from Redis within a health check or two.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let two = client_from("127.0.0.2");
    let puzzle = puzzle_of(&request(&two, &a.url("/"), &[]).await);
    let pass = pass_of(&request(&two, &verify_url(&a, &puzzle, &solve(&puzzle, 8), "%2F"), &[]).await);
    let at_b = request(&two, &b.url("/x"), &[("cookie", &pass)]).await;
    assert!(at_b.status == 200 && at_b.body.contains("origin=o"), "{}", at_b.body);
    assert_eq!(request(&two, &alone.url("/x"), &[("cookie", &pass)]).await.status, 403, "no shared secret");
    assert!(a.stderr().contains("shared through Redis") || b.stderr().contains("shared through Redis"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_and_the_apis_switch_outlive_a_restart_through_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let origin = Origin::start("o");
    let admin = free_port();
    let tables = "[challenge]\ndifficulty = 8\n[limits.human_rate]\nrate = \"100/s\"\n";
    let mut fc = Forecourt::start(&challenge_config(&origin, admin, tables, ""));
    let (two, four) = (client_from("127.0.0.2"), client_from("127.0.0.4"));
    // Under attack by the admin API: 127.0.0.2 earns a pass.
    let switched = admin_call(admin, "PUT", "/api/challenge", "{\"under_attack\":true}").await;
    assert!(switched.contains("\"under_attack\":true"), "{switched}");
    let puzzle = puzzle_of(&request(&two, &fc.url("/"), &[BROWSER]).await);
    let pass = pass_of(&request(&two, &verify_url(&fc, &puzzle, &solve(&puzzle, 8), "%2F"), &[]).await);
    assert_eq!(request(&two, &fc.url("/x"), &[BROWSER, ("cookie", &pass)]).await.status, 200);
    // The secret is kept beside the other state (`XDG_DATA_HOME` is the test's `data`),
    // readable by its owner only.
    let kept = fc.dir.path("data/forecourt/challenge.secret");
    let mode = std::fs::metadata(&kept).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "{kept}");

    // Restarted (killed): still under attack, and the pass still holds.
    fc.restart();
    let after = request(&two, &fc.url("/x"), &[BROWSER, ("cookie", &pass)]).await;
    assert!(after.status == 200 && after.body.contains("origin=o"), "the pass holds after a restart: {}", after.body);
    puzzle_of(&request(&four, &fc.url("/x"), &[BROWSER]).await);
    assert!(fc.stderr().contains("where the admin API left it"), "{}", fc.stderr());
    // Switched off by the API, restarted: off.
    admin_call(admin, "PUT", "/api/challenge", "{\"under_attack\":false}").await;
    fc.restart();
    assert_eq!(request(&four, &fc.url("/x"), &[BROWSER]).await.status, 200);
    // On again, then the config says `under_attack = true` and a reload takes it, then
    // false: the config spoke last, and a restart keeps its word, not the API's.
    admin_call(admin, "PUT", "/api/challenge", "{\"under_attack\":true}").await;
    let reload = || admin_call(admin, "POST", "/reload", "");
    let attacked = tables.replace("[challenge]\n", "[challenge]\nunder_attack = true\n");
    fc.rewrite(&challenge_config(&origin, admin, &attacked, ""));
    assert!(reload().await.contains("reloaded"));
    fc.rewrite(&challenge_config(&origin, admin, tables, ""));
    assert!(reload().await.contains("reloaded"));
    assert_eq!(request(&four, &fc.url("/x"), &[BROWSER]).await.status, 200, "the config's word");
    fc.restart();
    assert_eq!(request(&four, &fc.url("/x"), &[BROWSER]).await.status, 200, "and after a restart");

    // Another secret there (an operator's, or another host's): the old passes are no pass.
    std::fs::write(&kept, format!("{}\n", "ab".repeat(32))).unwrap();
    fc.restart();
    admin_call(admin, "PUT", "/api/challenge", "{\"under_attack\":true}").await;
    puzzle_of(&request(&two, &fc.url("/x"), &[BROWSER, ("cookie", &pass)]).await);
}

#[test]
fn bad_challenge_options_point_at_the_mistake() {
    let dir = TempDir::new("challenge-check");
    let path = dir.file(
        "bad.toml",
        "[challenge]\ndifficulty = 40\npass_for = \"0s\"\nno_js = \"maybe\"\ncookie = \"a b\"\nexempt = [\"static/\"]\n\
         [challenge.rules.ua]\nuser_agent = \"(unclosed\"\n[challenge.rules.nothing]\n\
         [challenge.rules.lists]\nlists = [\"nope\"]\nmissing_headers = [\"bad header\"]\n\
         [[route]]\nrespond = { status = 200 }\nchallenge = \"yes\"\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    // The route's `challenge = "yes"` is a type error, reported first and alone.
    assert!(text.contains("bad.toml:15:13"), "{text}");
    let path = dir.file("bad.toml", &std::fs::read_to_string(&path).unwrap().replace("\"yes\"", "true"));
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    for expected in [
        "bad.toml:2:14: must be between 1 and 32",
        "bad.toml:3:12: must be between 1s and",
        "bad.toml:4:9: unknown no_js `maybe`",
        "bad.toml:5:10: a cookie name is",
        "bad.toml:6:11: an exempt path starts with `/`",
        "bad.toml:8:14: bad regular expression",
        "bad.toml:9:1: challenge rule `nothing` names no signal",
        "bad.toml:11:10: unknown list `nope`",
        "bad.toml:12:20: `bad header` is not a header name",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}
