#!/usr/bin/env python3
"""Resident memory of a proxy holding N idle keep-alive client connections, Forecourt
beside nginx (Debian's nginx-light), the same number of workers each (one unless
--workers says otherwise), in front of the same origin.

Each connection sends one request, reads its response, then stays open and idle. The
figure is the proxy's resident memory (all its processes) with every connection open,
and the growth over the idle baseline.

With --tls the connections are HTTPS (TLS 1.3, a self-signed P-256 certificate made with
openssl; the client resumes no session: each connection does a full handshake), nginx with
`ssl_certificate` and TLS 1.3 enabled (nginx 1.22 leaves it off unless `ssl_protocols` names
it; Debian's nginx.conf does), Forecourt with `tls = true` and the same certificate.

usage: bench/idle_memory.py [--conns 10000] [--workers 1] [--tls]   (needs nginx-light; run from the repo root)
"""
import argparse, os, resource, selectors, shutil, signal, socket, ssl, subprocess, tempfile, time

from ports import wait_port

ORIGIN_PORT, PROXY_PORT = 19100, 18100
HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    total = 0
    for p in pids:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def open_idle(n, tls):
    """n connections, one request each, kept open."""
    socks, pending = [], 0
    sel = selectors.DefaultSelector()
    req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", PROXY_PORT))
        if tls:
            s = tls.wrap_socket(s, server_hostname="bench")
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
        pending += 1
        # keep the number of unanswered requests bounded
        while pending > 256 or (i == n - 1 and pending):
            for key, _ in sel.select(5):
                try:
                    data = key.fileobj.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    raise SystemExit("proxy closed a connection")
                if data.startswith(b"HTTP/1.1 200"):
                    sel.unregister(key.fileobj)
                    pending -= 1
    return socks


def measure(name, cmd, conns, tls):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(PROXY_PORT)
        time.sleep(0.3)
        base = rss_kib(proc.pid)
        socks = open_idle(conns, tls)
        # Idle keep-alive connections are what is measured: give both proxies a few seconds
        # of idleness (Forecourt parks a connection after 0.5 s and returns freed memory
        # once a second).
        time.sleep(3.0)
        full = rss_kib(proc.pid)
        print(f"{name:9s} idle baseline {base/1024:7.1f} MiB   with {len(socks)} idle connections {full/1024:7.1f} MiB"
              f"   growth {(full-base)/1024:7.1f} MiB ({(full-base)*1024/len(socks):6.0f} bytes/conn)", flush=True)
        for s in socks:
            s.close()
        return full
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--tls", action="store_true", help="HTTPS connections (full TLS 1.3 handshakes)")
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < args.conns + 1000:
        raise SystemExit(f"the open-file limit ({hard}) is below {args.conns} connections; raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    origin_bin = os.environ.get("ORIGIN_BIN") or os.path.join(tempfile.gettempdir(), "proxybench-origin", "release", "origin")
    if not os.path.exists(origin_bin):
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", os.path.join(HERE, "..", "..", "shared", "bench", "origin", "Cargo.toml"),
                        "--target-dir", os.path.dirname(os.path.dirname(origin_bin))], check=True)
    origin = subprocess.Popen([origin_bin, f"127.0.0.1:{ORIGIN_PORT}", "13", "1"], start_new_session=True)
    work = tempfile.mkdtemp(prefix="idle-memory-")
    try:
        wait_port(ORIGIN_PORT)
        tls, nginx_tls, ours_tls = None, "", ""
        if args.tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                            "-subj", "/CN=bench", "-addext", "subjectAltName=DNS:bench", "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem"],
                           check=True, capture_output=True)
            tls = ssl.create_default_context()
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
            tls.minimum_version = ssl.TLSVersion.TLSv1_3
            nginx_tls = f" ssl; ssl_certificate {work}/cert.pem; ssl_certificate_key {work}/key.pem; ssl_protocols TLSv1.2 TLSv1.3"
            ours_tls = f'tls = true\n[[tls.certificates]]\ncert = "{work}/cert.pem"\nkey = "{work}/key.pem"\ndefault = true\n'
        conf = f"""worker_processes {args.workers}; worker_rlimit_nofile 65536; pid {work}/nginx.pid; error_log {work}/error.log error; daemon off;
events {{ worker_connections 32768; }}
http {{ access_log off; client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f; uwsgi_temp_path {work}/u; scgi_temp_path {work}/s;
  keepalive_timeout 300s;
  upstream o {{ server 127.0.0.1:{ORIGIN_PORT}; keepalive 1024; }}
  server {{ listen 127.0.0.1:{PROXY_PORT}{nginx_tls}; keepalive_requests 1000000;
    location / {{ proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}"""
        open(f"{work}/nginx.conf", "w").write(conf)
        ours = os.path.join(os.getcwd(), "target", "release", "forecourt")
        conf_ours = f"""[global]\nworkers = {args.workers}\nadmin = "off"\naccess_log = "off"\n[global.timeouts]\nkeepalive = "300s"\n
[[listen]]\naddr = "127.0.0.1:{PROXY_PORT}"\n{ours_tls}[[route]]\nupstream = "o"\n[upstream.o]\nservers = ["127.0.0.1:{ORIGIN_PORT}"]\n"""
        open(f"{work}/forecourt.toml", "w").write(conf_ours)
        n = measure("nginx", ["nginx", "-c", f"{work}/nginx.conf", "-p", work], args.conns, tls)
        o = measure("forecourt", ["sh", "-c", f"ulimit -n $(ulimit -Hn); exec {ours} run -c {work}/forecourt.toml"], args.conns, tls)
        print(f"\nforecourt / nginx resident memory with {args.conns} idle connections: {o/n:.2f}x")
    finally:
        os.killpg(origin.pid, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
