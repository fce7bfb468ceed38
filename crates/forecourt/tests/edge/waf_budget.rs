//! The WAF's `inspection_budget` is the rules' CPU time, not the wall clock: a Forecourt
//! given the CPU a tenth of the time (stopped 90 ms, run 10 ms, as a container's CPU
//! limit throttles it) judges an ordinary 200 KB JSON post whole and passes it, where a
//! wall-clock budget refused every one; the budget still ends an inspection that spends it.
use super::common::origin::Origin;
use super::common::*;
use super::waf::CRS3;
use bytes::Bytes;
use http_body_util::Full;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Stops and continues `pid` (90 ms stopped, 10 ms running) until `done`; leaves it running.
fn throttle(pid: u32, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let pid = pid as libc::pid_t;
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            // SAFETY: kill(2) with a pid of our own child and a constant signal.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            std::thread::sleep(Duration::from_millis(90));
            unsafe { libc::kill(pid, libc::SIGCONT) };
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspection_budget_counts_the_rules_cpu_time_not_the_wall_clock() {
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = super::waf::start(&format!(
        "[global]\nworkers = 1\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [waf.normal]\nrules = {CRS3}\ninspection_budget = \"200ms\"\n\
         [waf.tight]\nrules = {CRS3}\ninspection_budget = \"2ms\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nhosts = [\"tight.test\"]\nupstream = \"o\"\nwaf = \"tight\"\n\
         [[route]]\npath = \"/\"\nupstream = \"o\"\nwaf = \"normal\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    // A blog post of 200 KB as JSON: tens of milliseconds of the rules' time.
    let words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "near", "farm"];
    let prose: Vec<&str> = (0..36_000).map(|i| words[(i * 7) % words.len()]).collect();
    let post = format!("{{\"title\":\"A long post\",\"tags\":[\"blog\"],\"body\":\"{}\"}}", prose.join(" "));
    let request = |host: &str| {
        http::Request::post(fc.url("/api/posts"))
            .header("host", host)
            .header("content-type", "application/json")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(post.clone())))
            .unwrap()
    };
    let done = Arc::new(AtomicBool::new(false));
    let throttled = throttle(fc.child.id(), done.clone());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(send(&client(), request("shop.test")).await.status);
    }
    done.store(true, Ordering::SeqCst);
    throttled.join().unwrap();
    assert_eq!(statuses, [200, 200, 200], "judged whole and passed, however long the wall clock ran");
    // The budget still ends an inspection that spends it.
    assert_eq!(send(&client(), request("tight.test")).await.status, 403);
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_waf_over_budget_total"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_waf_evaluations_total"), 4.0, "{metrics}");
}
