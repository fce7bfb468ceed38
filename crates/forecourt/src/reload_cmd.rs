//! `forecourt reload`: asks the running process to reload, through its pid file (SIGHUP)
//! or its admin endpoint (`POST /reload`, which also reports the result).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

pub fn reload(config: Option<String>, pid_file: Option<String>) -> ExitCode {
    let path = config.or_else(|| std::path::Path::new("forecourt.toml").exists().then(|| "forecourt.toml".into()));
    // The config names the pid file and the admin address; it need not be valid to be read
    // for those (the running process validates it, and says so).
    let (cfg_pid, admin) = match &path {
        Some(p) => targets(p),
        None => (None, Some(SocketAddr::from(([127, 0, 0, 1], 9901)))),
    };
    if let Some(pid_path) = pid_file.or(cfg_pid) {
        return signal_pid(&pid_path);
    }
    match admin {
        Some(addr) => post_reload(addr),
        None => {
            eprintln!(
                "forecourt reload: the admin endpoint is off and no pid file is configured; send SIGHUP to the process"
            );
            ExitCode::FAILURE
        }
    }
}

fn targets(path: &str) -> (Option<String>, Option<SocketAddr>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let value: toml::Table = toml::from_str(&text).unwrap_or_default();
    let global = value.get("global").and_then(|g| g.as_table());
    let pid = global.and_then(|g| g.get("pid_file")).and_then(|v| v.as_str()).map(str::to_owned);
    let admin = match global.and_then(|g| g.get("admin")).and_then(|v| v.as_str()) {
        Some("off") => None,
        Some(a) => a.parse().ok(),
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9901))),
    };
    (pid, admin)
}

fn signal_pid(path: &str) -> ExitCode {
    let pid: i32 = match std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("forecourt reload: no pid in {path}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: kill(2) with a pid read from the pid file and a plain signal number.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        eprintln!("forecourt reload: cannot signal pid {pid}: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    println!("sent SIGHUP to {pid}; the result is in its log");
    ExitCode::SUCCESS
}

fn post_reload(addr: SocketAddr) -> ExitCode {
    let attempt = || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.write_all(
            format!("POST /reload HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    match attempt() {
        Ok(resp) => {
            let ok = resp.starts_with("HTTP/1.1 200");
            let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            if ok {
                print!("{body}");
                ExitCode::SUCCESS
            } else {
                eprint!("{body}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("forecourt reload: cannot reach the admin endpoint at {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
