//! `forecourt reload`: checks the config file, then asks the process it names to reload,
//! through its pid file (SIGHUP) or its admin endpoint (`POST /reload`, which also reports
//! the result). A file that does not check (missing, empty, broken) reloads nothing: its
//! own errors are printed and the command fails, so that no other instance is addressed.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

pub fn reload(config: Option<String>, pid_file: Option<String>) -> ExitCode {
    let path = config.or_else(|| std::path::Path::new("forecourt.toml").exists().then(|| "forecourt.toml".into()));
    // The config names the pid file and the admin address of its instance; without a file,
    // the instance is the embedded default's (admin on 127.0.0.1:9901).
    let (cfg_pid, admin) = match &path {
        Some(p) => match forecourt_config::load_to_inspect(p) {
            Ok(rt) => (rt.pid_file, rt.admin),
            Err(diagnostics) => {
                for d in &diagnostics {
                    eprintln!("{d}");
                }
                eprintln!("{p}: {} error(s); nothing was reloaded", diagnostics.len());
                return ExitCode::FAILURE;
            }
        },
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
