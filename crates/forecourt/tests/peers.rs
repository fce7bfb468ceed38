//! End-to-end against independent implementations from Debian's packages: nginx as an
//! origin, curl and h2load as clients, wrk as the load during reloads. `.ci/run` installs
//! them (nginx-light, curl, nghttp2-client, wrk).
use crate::common;

use common::origin::Origin;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// nginx serving static files, as an origin with its own HTTP/1.1 implementation.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

impl Nginx {
    fn start() -> Nginx {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let root = dir.path("www");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(format!("{root}/five-mib.bin"), vec![b'n'; 5 << 20]).unwrap();
        std::fs::write(format!("{root}/index.html"), "hello from nginx\n").unwrap();
        let d = dir.0.to_string_lossy().into_owned();
        let conf = format!(
            "worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log error; daemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
               uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
               server {{ listen 127.0.0.1:{port}; root {root}; server_tokens on; }} }}\n"
        );
        let path = dir.file("nginx.conf", &conf);
        let child = Command::new("nginx")
            .args(["-c", &path, "-p", &d])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx-light)");
        wait_for_port(port);
        Nginx { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let _ = self.child.wait();
    }
}

fn proxy_to(addr: &str) -> Forecourt {
    Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{addr}\"]\n"
    ))
}

#[test]
fn curl_through_forecourt_to_nginx() {
    let nginx = Nginx::start();
    let fc = proxy_to(&format!("127.0.0.1:{}", nginx.port));
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "-w", "%{size_download}", &fc.url("/five-mib.bin")])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with(&(5 << 20).to_string()), "{text}");
    assert!(!text.to_lowercase().contains("server: nginx"), "the backend is hidden: {text}");
    let out = Command::new("curl").args(["-sS", &fc.url("/"), &fc.url("/"), &fc.url("/missing")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("hello from nginx").count(), 2);
}

#[test]
fn h2load_over_h2c_prior_knowledge() {
    let origin = Origin::start("o");
    let fc = proxy_to(&origin.addr.to_string());
    let out = Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "8", &fc.url("/")])
        .output()
        .expect("h2load (apt-get install nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2000 succeeded, 0 failed, 0 errored"), "{text}");
    assert!(text.contains("Application protocol: h2c"), "{text}");
}

/// The issue's own yardstick: wrk runs while the config is reloaded 20 times; wrk must see
/// no socket error and no non-2xx response.
#[test]
fn wrk_sees_no_error_across_twenty_reloads() {
    let origin = Origin::start("o");
    let fc = proxy_to(&origin.addr.to_string());
    let wrk = Command::new("wrk")
        .args(["-t", "2", "-c", "32", "-d", "6s", &fc.url("/")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("wrk (apt-get install wrk)");
    std::thread::sleep(Duration::from_millis(500));
    for i in 1..=20 {
        fc.signal(libc::SIGHUP);
        // One signal at a time: two sent during one reload would coalesce into one.
        assert!(eventually(Duration::from_secs(5), || fc.stderr().matches("reloaded:").count() >= i), "reload {i}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = wrk.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Socket errors") && !text.contains("Non-2xx"), "{text}");
    assert_eq!(fc.stderr().matches("reloaded:").count(), 20, "{}", fc.stderr());
}
