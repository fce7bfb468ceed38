#!/usr/bin/env python3
"""What one request on a new connection costs in time through each proxy, measured by a
client in C (ApacheBench, `apt-get install -y apache2-utils`), not by the Python client of
`attack.py`, whose own scheduling on a shared core is most of the p99 it reports.

    bench/new_connections.py --requests 5000 --rounds 3 nginx haproxy ours

Each proxy is set up as `attack.py` sets it up (one worker, the same origin, timeouts and
connection caps) without its rate limits, which a client asking as fast as it can would
meet: `ab -c 1` from 127.0.0.2 sends one request at a time, each on a new connection
(HTTP/1.0, closed by the proxy after the answer), the proxy, the origin and `ab` on CPU 0
as in `attack.py --cpus 0:0:1`. Printed per round and proxy: requests/s, p50, p90, p99 and
the slowest in milliseconds, and how many answers were not 200 (there should be none).

    bench/new_connections.py --paced 20 --requests 300 --rounds 2 nginx ours

`--paced RATE`: the same requests as `attack.py`'s client sends them (HTTP/1.1,
`Connection: close`, read to the end), RATE a second from one blocking socket on the same
core, so that each proxy waits idle between two requests, as under the attack script,
rather than being kept busy by `ab`: printed, the time to the answer's first byte and to
its end.
"""
import argparse, importlib.util, os, re, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
spec = importlib.util.spec_from_file_location("attackbench", os.path.join(HERE, "attack.py"))
attack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(attack)
cb = attack.cb


def without_rate_limits():
    """`attack.py`'s configs less the per-address request and new-connection rates."""
    nginx, haproxy, ours = attack.nginx_conf, attack.haproxy_conf, attack.forecourt_conf
    attack.nginx_conf = lambda d: nginx(d).replace("limit_req zone=req burst=200 nodelay;", "")
    attack.haproxy_conf = lambda d: "\n".join(
        line for line in haproxy(d).replace(" || { sc0_conn_rate gt 50 }", "").splitlines() if "sc0_http_req_rate gt" not in line
    ) + "\n"
    attack.forecourt_conf = lambda: ours().replace('limits = ["per_ip"]', "").replace('new_connections_per_ip = "50/s"', "")


def busy(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def measure(d, requests, cpus):
    cmd = ["ab", "-q", "-n", str(requests), "-c", "1", "-B", attack.CLIENT, "-e", f"{d}/percentiles.csv",
           f"http://127.0.0.1:{attack.H1}/tiny"]
    out = subprocess.run(cb.pb.taskset(cpus) + cmd, capture_output=True, text=True)
    text = out.stdout + out.stderr
    rps = re.search(r"Requests per second:\s+([\d.]+)", text)
    assert rps, text
    within = dict(line.split(",") for line in open(f"{d}/percentiles.csv").read().splitlines()[1:])
    not_ok = re.search(r"Non-2xx responses:\s+(\d+)", text)
    return float(rps.group(1)), {p: float(within[p]) for p in ("50", "90", "99", "100")}, int(not_ok.group(1)) if not_ok else 0


def paced(rate, requests):
    """Milliseconds to the first byte and to the end of each of `requests` requests sent
    `rate` a second, each on a new connection."""
    first, whole = [], []
    start = time.perf_counter()
    for i in range(requests):
        time.sleep(max(0, start + i / rate - time.perf_counter()))
        asked = time.perf_counter()
        with socket.socket() as s:
            s.bind((attack.CLIENT, 0))
            s.connect(("127.0.0.1", attack.H1))
            s.sendall(b"GET /tiny HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n")
            answer = s.recv(65536)
            first.append(1000 * (time.perf_counter() - asked))
            while chunk := s.recv(65536):
                answer += chunk
        whole.append(1000 * (time.perf_counter() - asked))
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    return sorted(first), sorted(whole)


def at(ms, share):
    return ms[min(len(ms) - 1, int(len(ms) * share))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="*", default=["nginx", "haproxy", "ours"])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpus", default="0", help="one cpu list for the proxy, the origin and the client")
    ap.add_argument("--paced", type=float, help="this many requests a second from a blocking client, not ab")
    args = ap.parse_args()
    if args.paced and args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    for port in (attack.H1, attack.H2, cb.ORIGIN):
        if busy(port):
            raise SystemExit(f"something listens on 127.0.0.1:{port} already (a run left behind?)")
    without_rate_limits()
    work = tempfile.mkdtemp(prefix="newconnbench-")
    os.chmod(work, 0o755)  # the origin's workers (www-data) read the files under it
    origin, _ = cb.origin(work, args.cpus)
    try:
        for round_ in range(args.rounds):
            for name in args.candidates:
                d = os.path.join(work, f"{name}-{round_}")
                os.makedirs(d)
                proc = cb.start(attack.candidate(name, d), open(f"{d}/out.log", "w"), args.cpus)
                assert cb.pb.wait_port(attack.H1), f"{name} did not start:\n" + open(f"{d}/out.log").read()
                if args.paced:
                    first, whole = paced(args.paced, args.requests)
                    print(f"round {round_} {name:8} first byte p50 {at(first, .5):.3f}  p90 {at(first, .9):.3f}  "
                          f"p99 {at(first, .99):.3f}; whole p50 {at(whole, .5):.3f}  p90 {at(whole, .9):.3f}  "
                          f"p99 {at(whole, .99):.3f} ms", flush=True)
                else:
                    rps, ms, not_ok = measure(d, args.requests, args.cpus)
                    print(f"round {round_} {name:8} {rps:9,.0f} rps  p50 {ms['50']:.3f}  p90 {ms['90']:.3f}  "
                          f"p99 {ms['99']:.3f}  slowest {ms['100']:.3f} ms  not 200: {not_ok}", flush=True)
                cb.stop(proc)
    finally:
        cb.stop(origin)


if __name__ == "__main__":
    main()
