#!/usr/bin/env python3
"""New TLS handshakes per second: the shared harness's `tls` scenario (same certificate,
same origin, same wrk load for every candidate) with `Connection: close` on every
request, so that each request is a new TCP connection and a new TLS handshake.
requests/s is then handshakes/s; CPU µs per request is the cost of a handshake plus one
request.

wrk resumes sessions: it reuses each connection's SSL object (SSL_clear keeps the
session), so after the first handshake on a connection slot every handshake is an
abbreviated one, by ticket. A TLS 1.2 resumption has no key exchange at all; a TLS 1.3
one still has an X25519 exchange on both sides (psk_dhe_ke, the only mode OpenSSL offers).
The harness's nginx config sets no `ssl_protocols`, and nginx 1.22 (Debian 12's) then
speaks TLS 1.2 only: TLS 1.3 became nginx's default in 1.23.4, and Debian's own
/etc/nginx/nginx.conf turns it on (`ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3`).
Forecourt prefers TLS 1.3, so by default the two run different protocols.

  --nginx-tls13  nginx gets `ssl_protocols TLSv1.2 TLSv1.3`, as Debian's packaged config
                 and nginx >= 1.23.4 have it: both run TLS 1.3.
  --tls12        Forecourt offers TLS 1.2 only (`--tls-protocols 1.2`), as the harness's
                 nginx does: both run TLS 1.2.
  --full         no resumption on either side (nginx `ssl_session_tickets off;
                 ssl_session_cache off;`, Forecourt `--no-session-resumption`): every
                 handshake is a full one, as for a client's first visit.
  --rate N       pace the load at about N handshakes a second in all (each connection
                 waits conns/N seconds before its request, by wrk's `delay()`), so that
                 both servers are measured at the same rate, below either's ceiling:
                 CPU per handshake then compares the servers' work without the
                 differences that saturation brings (fewer wake-ups per handshake
                 when busier). The rate reached is printed; it falls short of N by the
                 handshake and request time.
  --load-procs N the load from N wrk processes at once (the harness's --load-threads and
                 --conns shared out among them) instead of one. Debian 12's OpenSSL 3.0
                 takes process-wide read-write locks many times per handshake (5% of
                 wrk's CPU time with 2 threads on this 2-core machine), which may be why
                 one wrk with 8 threads stopped near 4,000 full handshakes/s on the
                 16-core machine whichever proxy it drove; separate processes share no
                 locks. Requests add up; p50 is the processes' mean, p99 the worst
                 process's.

usage: bench/tls_handshakes.py [--nginx-tls13 | --tls12] [--full] [--rate N] [--load-procs N]
                               [proxybench options] nginx ours
  e.g. OURS_CMD='target/release/forecourt proxy --from {listen} --to http://{upstream} \\
         --workers {threads} --cert {cert} --key {key}' \\
       bench/tls_handshakes.py --rounds 5 --duration 5 --cpus 0:1:1 nginx ours
The harness is ../shared/bench/proxybench.py (or $PROXYBENCH).
"""
import concurrent.futures, copy, importlib.util, os, re, resource, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
path = os.environ.get("PROXYBENCH", os.path.join(HERE, "..", "..", "shared", "bench", "proxybench.py"))
spec = importlib.util.spec_from_file_location("proxybench", path)
proxybench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxybench)

args = sys.argv[1:]
load_procs = 1
if "--load-procs" in args:
    i = args.index("--load-procs")
    load_procs = int(args[i + 1])
    del args[i : i + 2]

rate = None
if "--rate" in args:
    i = args.index("--rate")
    rate = float(args[i + 1])
    del args[i : i + 2]

measure = proxybench.load
report_lua = proxybench.WRK_LUA


def paced(conns):
    """The harness's wrk report script plus a `delay()` that spaces each connection's
    requests conns/rate seconds apart (every request is a new connection here)."""
    gap_ms = conns / rate * 1000
    return report_lua + f"\ndelay = function() return {gap_ms:.3f} end\n"


def load(bench_args, work, tls, close):
    """The harness's wrk load, always with `Connection: close` (the harness closes
    connections only in its plain `close` scenario), from `load_procs` processes. Prints
    the load's own CPU time per handshake, which says whether the client set the rate."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = load_from_procs(bench_args, work, tls)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if total["requests"]:
        print(f"  load: {cpu_s * 1e6 / total['requests']:.1f}us CPU per handshake (wrk)", flush=True)
    return total


def load_from_procs(bench_args, work, tls):
    share = copy.copy(bench_args)
    share.load_threads = max(1, bench_args.load_threads // load_procs)
    share.conns = max(1, bench_args.conns // load_procs)
    if rate:
        # Each process paces its share of the connections at its share of the rate.
        proxybench.WRK_LUA = paced(share.conns * load_procs)
    if load_procs == 1:
        return measure(bench_args, work, tls, True)
    # A directory each: every wrk writes its report script before it starts.
    dirs = [os.path.join(work, f"load-{i}") for i in range(load_procs)]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(load_procs) as pool:
        parts = list(pool.map(lambda d: measure(share, d, tls, True), dirs))
    total = {k: sum(p[k] for p in parts) for k in ("requests", "errors", "non2xx", "bytes")}
    total["duration_us"] = max(p["duration_us"] for p in parts)
    total["p50"] = sum(p["p50"] for p in parts) / len(parts)
    total["p99"] = max(p["p99"] for p in parts)
    total["p999"] = max(p["p999"] for p in parts)
    return total


proxybench.load = load
nginx_lines = []
if "--nginx-tls13" in args:
    args.remove("--nginx-tls13")
    nginx_lines.append("ssl_protocols TLSv1.2 TLSv1.3;")
if "--tls12" in args:
    args.remove("--tls12")
    os.environ["OURS_CMD"] = os.environ.get("OURS_CMD", "") + " --tls-protocols 1.2"
if "--full" in args:
    args.remove("--full")
    nginx_lines.append("ssl_session_tickets off; ssl_session_cache off;")
    os.environ["OURS_CMD"] = os.environ.get("OURS_CMD", "") + " --no-session-resumption"

if nginx_lines:

    class Subprocess:
        """The harness's subprocess module, but nginx starts with `nginx_lines` added to
        its TLS server block."""

        def __getattr__(self, name):
            return getattr(subprocess, name)

        def Popen(self, cmd, *a, **kw):
            if "nginx" in cmd:
                after = cmd[cmd.index("nginx"):]  # past taskset's own -c
                conf = after[after.index("-c") + 1]
                text = open(conf).read()
                extra = " ".join(nginx_lines)
                open(conf, "w").write(re.sub(r"(ssl_certificate_key [^;]+;)", lambda m: m.group(1) + " " + extra, text))
            return subprocess.Popen(cmd, *a, **kw)

    proxybench.subprocess = Subprocess()
sys.argv = [sys.argv[0], "--scenario", "tls"] + args
proxybench.main()
