#!/usr/bin/env python3
"""One slow server among three: Forecourt's default balancer (p2c_ewma) beside nginx
`least_conn` and HAProxy `leastconn`, on the same three origins and the same wrk load.

Two origins answer at once, the third 50 ms later (a timer in the origin, not busy work).
Each proxy runs with one worker (or --threads), keeps upstream connections alive, and
gets a warm-up before it is measured. Prints p50, p99 and requests/s of each, median over
the rounds, and Forecourt's p99 against the best of the other two.

usage: bench/slow_server.py [--rounds 3] [--duration 10] [--conns 64] [--delay-ms 50]
                            [--cpus PROXY:LOAD]      e.g. --cpus 0:1 on 2 cores
Needs: apt-get install -y wrk nginx-light haproxy; the origin of ../shared/bench
(built here if ORIGIN_BIN is not set). Run from the repo root.
"""
import argparse, os, re, statistics, subprocess, sys, tempfile

from ports import stop_group, wait_port, wait_closed

ORIGIN_PORTS = (19201, 19202, 19203)
PROXY_PORT = 18201
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def origin_bin():
    if os.environ.get("ORIGIN_BIN"):
        return os.environ["ORIGIN_BIN"]
    manifest = os.path.join(ROOT, "..", "shared", "bench", "origin", "Cargo.toml")
    target = "/tmp/proxybench-origin"
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", manifest, "--target-dir", target],
                   check=True)
    return os.path.join(target, "release", "origin")


def pinned(cmd, cpus):
    return ["taskset", "-c", cpus] + cmd if cpus else cmd


def nginx_conf(work, threads):
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in ORIGIN_PORTS)
    return f"""worker_processes {threads};
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream b {{
    least_conn;
{servers}    keepalive 128;
  }}
  server {{
    listen 127.0.0.1:{PROXY_PORT} reuseport;
    location / {{
      proxy_pass http://b;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def haproxy_conf(threads):
    servers = "".join(f"  server s{i} 127.0.0.1:{p}\n" for i, p in enumerate(ORIGIN_PORTS))
    return f"""global
  nbthread {threads}
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:{PROXY_PORT}
  default_backend b
backend b
  balance leastconn
{servers}"""


def forecourt_conf(threads):
    servers = ", ".join(f'"127.0.0.1:{p}"' for p in ORIGIN_PORTS)
    return f"""[global]
workers = {threads}
admin = "off"
access_log = "off"

[[listen]]
addr = "127.0.0.1:{PROXY_PORT}"

[[route]]
upstream = "b"

[upstream.b]
servers = [{servers}]
"""


def start_proxy(name, work, threads, cpus):
    if name == "nginx":
        path = os.path.join(work, "nginx.conf")
        open(path, "w").write(nginx_conf(work, threads))
        cmd = ["nginx", "-c", path]
    elif name == "haproxy":
        path = os.path.join(work, "haproxy.cfg")
        open(path, "w").write(haproxy_conf(threads))
        cmd = ["haproxy", "-f", path]
    else:
        path = os.path.join(work, "forecourt.toml")
        open(path, "w").write(forecourt_conf(threads))
        cmd = [os.path.join(ROOT, "target", "release", "forecourt"), "run", "-c", path]
    proc = subprocess.Popen(pinned(cmd, cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_port(PROXY_PORT)
    return proc


def stop(proc):
    stop_group(proc)
    wait_closed(PROXY_PORT)


def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(duration, conns, cpus):
    out = subprocess.run(pinned(["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency",
                                 f"http://127.0.0.1:{PROXY_PORT}/"], cpus),
                         capture_output=True, text=True, check=True).stdout
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    return p50, p99, rps, errors.group(0) if errors else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--cpus", default="", help="PROXY:LOAD cpu lists for taskset (origins share LOAD)")
    args = ap.parse_args()
    proxy_cpus, load_cpus = (args.cpus.split(":") + [""])[:2] if args.cpus else ("", "")

    binary = origin_bin()
    origins = []
    for port, delay in zip(ORIGIN_PORTS, (0, 0, args.delay_ms)):
        cmd = pinned([binary, f"127.0.0.1:{port}", "13", "1", str(delay)], load_cpus)
        origins.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for port in ORIGIN_PORTS:
        wait_port(port)
    names = ["nginx", "haproxy", "forecourt"]
    results = {n: [] for n in names}
    try:
        with tempfile.TemporaryDirectory() as work:
            for r in range(args.rounds):
                for name in names:
                    proc = start_proxy(name, work, args.threads, proxy_cpus)
                    try:
                        wrk(args.warmup, args.conns, load_cpus)
                        res = wrk(args.duration, args.conns, load_cpus)
                    finally:
                        stop(proc)
                    results[name].append(res)
                    print(f"round {r + 1} {name:9} p50 {res[0]:8.3f} ms  p99 {res[1]:8.3f} ms  "
                          f"{res[2]:10.0f} req/s {res[3]}", file=sys.stderr)
    finally:
        for o in origins:
            o.kill()
            o.wait()

    print(f"\none server {args.delay_ms} ms slower of three; {args.conns} connections, "
          f"{args.threads} proxy thread(s), {args.rounds} rounds of {args.duration}s (medians)")
    print(f"{'proxy':10} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>10}")
    med = {}
    for name in names:
        p50 = statistics.median(r[0] for r in results[name])
        p99 = statistics.median(r[1] for r in results[name])
        rps = statistics.median(r[2] for r in results[name])
        med[name] = (p50, p99, rps)
        label = {"nginx": "nginx lc", "haproxy": "haproxy lc", "forecourt": "forecourt"}[name]
        print(f"{label:10} {p50:9.3f} {p99:9.3f} {rps:10.0f}")
    best = min(med["nginx"][1], med["haproxy"][1])
    ratio = med["forecourt"][1] / best
    print(f"forecourt p99 / best other p99 = {ratio:.3f} (target <= 0.5): {'met' if ratio <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
