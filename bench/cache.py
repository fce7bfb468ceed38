#!/usr/bin/env python3
"""The cache and compression side by side with their peers: same origin, same load.

    bench/cache.py --scenario hits --size 13     --cpus 0:1:1 --rounds 3 nginx varnish ours
    bench/cache.py --scenario hits --size 102400 --cpus 0:1:1 --rounds 3 nginx varnish ours
    bench/cache.py --scenario gzip --cpus 0:1:1 --rounds 3 nginx ours
    bench/cache.py --scenario memory ours      # RSS with memory = "64m" and 1 GiB of objects

The origin is nginx serving static files (a 13-byte object, a 100 KiB HTML page made of
varied prose-like markup) with `Cache-Control: max-age=600`, so that every cache stores by
the response's own freshness, not by a setting of its own. Each round starts each
candidate with one worker, pinned like the shared harness (`--cpus PROXY:ORIGIN:LOAD`),
warms it (the first request fills the cache), drives it with wrk and reads its CPU time
from /proc. The origin's access log tells how many requests reached it, so a cache that
did not cache shows up.

- hits: nginx `proxy_cache` (keys_zone, files under a temp folder, sendfile on as nginx's
  own nginx.conf ships), Varnish (`-s malloc,256m`, otherwise as shipped), Forecourt
  `cache = true`.
- gzip: every request goes to the origin and is compressed on the way (`Accept-Encoding:
  gzip`): nginx `gzip on` at its default level (1), Forecourt `compress = true` with gzip
  at the same level.
- memory: Forecourt with `memory = "64m"` fetches 1 GiB of distinct 100 KiB objects; its
  RSS before and after.
"""
import argparse, importlib.util, os, random, shutil, signal, subprocess, tempfile, time

from ports import stop_group

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("PROXYBENCH", os.path.join(HERE, "..", "..", "shared", "bench", "proxybench.py"))
spec = importlib.util.spec_from_file_location("proxybench", HARNESS)
pb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pb)

ORIGIN, PROXY, ADMIN = 19000, 18080, 18099
# The lent benchmark machine has no /etc/nginx: bench/device.sh carries the file.
MIME_TYPES = os.environ.get("NGINX_MIME_TYPES", "/etc/nginx/mime.types")
FORECOURT = os.environ.get("FORECOURT", os.path.join(HERE, "..", "target", "release", "forecourt"))


def html_page(size):
    """About `size` bytes of HTML that compresses like a real page (not one repeated byte)."""
    rnd = random.Random(7)
    words = ("the a proxy cache origin request response header body server client stream worker "
             "connection latency throughput purge stale fresh validate compress gzip brotli zstd "
             "route filter upstream balance health retry budget limit token challenge").split()
    out = ["<!doctype html><html><head><title>Forecourt</title></head><body>\n"]
    n = 0
    while n < size - 200:
        para = " ".join(rnd.choice(words) for _ in range(rnd.randint(20, 60)))
        line = f'<p class="c{rnd.randint(1, 40)}" id="p{n}">{para.capitalize()}.</p>\n'
        out.append(line)
        n += len(line)
    out.append("</body></html>\n")
    return "".join(out)


def start(cmd, log, cpus):
    proc = subprocess.Popen(pb.taskset(cpus) + cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc


def stop(proc):
    stop_group(proc)
    end = time.time() + 5
    while time.time() < end and pb.wait_port(PROXY, 0.1):
        time.sleep(0.1)


def origin(work, cpus):
    root = os.path.join(work, "www")
    os.makedirs(root)
    open(os.path.join(root, "tiny"), "w").write("hello, world\n")
    open(os.path.join(root, "page.html"), "w").write(html_page(100 * 1024))
    open(os.path.join(root, "blob"), "wb").write(random.Random(1).randbytes(100 * 1024))
    d = os.path.join(work, "origin")
    os.makedirs(d)
    conf = f"""worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log error; daemon off;
events {{ worker_connections 16384; }}
http {{ include {MIME_TYPES}; default_type application/octet-stream; sendfile on;
  access_log {d}/access.log; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{ORIGIN}; keepalive_requests 1000000; root {root};
    location / {{ add_header Cache-Control "max-age=600"; }} }} }}"""
    open(f"{d}/nginx.conf", "w").write(conf)
    proc = start(["nginx", "-c", f"{d}/nginx.conf", "-p", d], open(f"{d}/out.log", "w"), cpus)
    assert pb.wait_port(ORIGIN), "origin did not start"
    return proc, f"{d}/access.log"


NGINX_HEAD = """worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log error; daemon off;
events {{ worker_connections 16384; }}
http {{ access_log off; sendfile on; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream o {{ server 127.0.0.1:{origin}; keepalive 1024; }}
"""


def candidate(name, scenario, d):
    """The command that starts `name` for `scenario` in folder `d`."""
    if name == "nginx":
        conf = NGINX_HEAD.format(d=d, origin=ORIGIN)
        if scenario == "hits":
            conf += f"""  proxy_cache_path {d}/cache levels=1:2 keys_zone=c:10m max_size=1g use_temp_path=off;
  server {{ listen 127.0.0.1:{PROXY}; keepalive_requests 1000000;
    location / {{ proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache c; }} }} }}"""
        else:
            conf += f"""  gzip on;
  server {{ listen 127.0.0.1:{PROXY}; keepalive_requests 1000000;
    location / {{ proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}"""
        open(f"{d}/nginx.conf", "w").write(conf)
        return ["nginx", "-c", f"{d}/nginx.conf", "-p", d]
    if name == "varnish":
        return ["varnishd", "-F", "-j", "none", "-n", f"{d}/varnish", "-a", f"127.0.0.1:{PROXY}",
                "-b", f"127.0.0.1:{ORIGIN}", "-s", "malloc,256m"]
    if name == "ours":
        cache = {"hits": 'cache = true', "gzip": 'compress = { levels = { gzip = 1 } }',
                 "memory": 'cache = true'}[scenario]
        memory = "64m" if scenario == "memory" else "256m"
        conf = f"""[global]
workers = 1
access_log = "off"
admin = "127.0.0.1:{ADMIN}"
[cache]
memory = "{memory}"
max_object = "1m"
[[listen]]
addr = "127.0.0.1:{PROXY}"
[[route]]
upstream = "o"
{cache}
[upstream.o]
servers = ["127.0.0.1:{ORIGIN}"]
"""
        open(f"{d}/forecourt.toml", "w").write(conf)
        return [FORECOURT, "run", "-c", f"{d}/forecourt.toml"]
    raise SystemExit(f"unknown candidate {name}")


def wrk(args, path, headers, lua):
    cmd = ["wrk", "-t", "1", "-c", str(args.conns), "-d", f"{args.duration}s", "--latency", "-s", lua]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://127.0.0.1:{PROXY}{path}")
    out = subprocess.run(pb.taskset(args.load_cpus) + cmd, capture_output=True, text=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("JSON ")), None)
    if not line:
        raise RuntimeError("wrk output not understood:\n" + out[-2000:])
    import json
    return json.loads(line[5:])


def measure(args, work, name, cmd_for, path, headers, lua):
    """One round of one candidate: starts it (`cmd_for(d)` gives its command in folder d),
    warms it for a second, then runs wrk for `args.duration` and reads the candidate's CPU:
    the wrk result with rps and cpu_us (CPU µs per request) added."""
    d = tempfile.mkdtemp(dir=work, prefix=name + "-")
    os.chmod(d, 0o777)
    proc = start(cmd_for(d), open(f"{d}/out.log", "w"), args.proxy_cpus)
    if not pb.wait_port(PROXY, 20):
        raise RuntimeError(f"{name} did not listen:\n" + open(f"{d}/out.log").read()[-2000:])
    time.sleep(0.5)
    subprocess.run(pb.taskset(args.load_cpus) + ["wrk", "-t1", "-c", str(args.conns), "-d1s", "-s", lua]
                   + sum((["-H", h] for h in headers), []) + [f"http://127.0.0.1:{PROXY}{path}"], capture_output=True)
    cpu0 = pb.cpu_seconds([proc.pid])
    res = wrk(args, path, headers, lua)
    res["cpu_s"] = pb.cpu_seconds([proc.pid]) - cpu0
    stop(proc)
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["cpu_us"] = res["cpu_s"] * 1e6 / max(res["requests"], 1)
    return res


def lines(path):
    return sum(1 for _ in open(path))


def rss_kib(pid, field="VmRSS:"):
    """Resident KiB of `pid` and its children (`VmHWM:`: the peak)."""
    total = 0
    for p in [pid] + pb.children(pid):
        try:
            for l in open(f"/proc/{p}/status"):
                if l.startswith(field):
                    total += int(l.split()[1])
        except OSError:
            pass
    return total


def shmem_kib():
    """The system's shared memory (memory files included: large stored bodies live in them,
    and their pages are not in RSS unless touched through the mapping)."""
    return next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("Shmem:"))


def memory(args, work):
    """RSS of Forecourt with memory = 64m after 1 GiB of distinct objects went through."""
    d = tempfile.mkdtemp(dir=work, prefix="ours-")
    proc = start(candidate("ours", "memory", d), open(f"{d}/out.log", "w"), args.proxy_cpus)
    assert pb.wait_port(PROXY)
    time.sleep(0.5)
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{PROXY}/blob?i=warm"], check=True)
    base, shmem0 = rss_kib(proc.pid), shmem_kib()
    objects = (1 << 30) // (100 * 1024) + 1
    t = time.time()
    # curl's URL ranges: one keep-alive connection, each object once.
    subprocess.run(pb.taskset(args.load_cpus) + ["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{PROXY}/blob?i=[1-{objects}]"],
                   check=True)
    stored = next(l for l in subprocess.run(["curl", "-s", f"http://127.0.0.1:{ADMIN}/metrics"], capture_output=True,
                                            text=True).stdout.splitlines() if l.startswith('forecourt_cache_bytes{tier="memory"}'))
    shmem = shmem_kib() - shmem0
    after, peak = rss_kib(proc.pid) + shmem, rss_kib(proc.pid, "VmHWM:") + shmem
    stop(proc)
    bound = (64 * 1024 + base) * 1.2
    print(f"memory: {objects} distinct 100 KiB objects ({objects * 100 / 1024 / 1024:.2f} GiB) in {time.time() - t:.0f}s; "
          f"RSS baseline {base / 1024:.1f} MiB, after {after / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
          f"(RSS plus {shmem / 1024:.1f} MiB of its memory files); "
          f"bound (64 MiB + baseline) x 1.2 = {bound / 1024:.1f} MiB: {'within' if peak <= bound else 'OVER'}; {stored}")


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--scenario", choices=["hits", "gzip", "memory"], default="hits")
    ap.add_argument("--size", type=int, default=13, help="hits: 13 (the tiny object) or 102400 (the 100 KiB one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--cpus", default="", help="PROXY:ORIGIN:LOAD cpu lists for taskset")
    ap.add_argument("candidates", nargs="*", default=["ours"])
    args = ap.parse_args()
    args.proxy_cpus, origin_cpus, args.load_cpus = (args.cpus.split(":") + ["", "", ""])[:3] if args.cpus else ("", "", "")
    work = tempfile.mkdtemp(prefix="cachebench-")
    os.chmod(work, 0o755)
    origin_proc, origin_log = origin(work, origin_cpus)
    try:
        if args.scenario == "memory":
            return memory(args, work)
        path, headers = {"hits": ("/tiny" if args.size == 13 else "/blob", []),
                         "gzip": ("/page.html", ["Accept-Encoding: gzip"])}[args.scenario]
        lua = os.path.join(work, "report.lua")
        open(lua, "w").write(pb.WRK_LUA)
        results = {c: [] for c in args.candidates}
        for r in range(args.rounds):
            for name in args.candidates:
                d = tempfile.mkdtemp(dir=work, prefix=name + "-")
                os.chmod(d, 0o777)
                proc = start(candidate(name, args.scenario, d), open(f"{d}/out.log", "w"), args.proxy_cpus)
                if not pb.wait_port(PROXY):
                    raise RuntimeError(f"{name} did not listen:\n" + open(f"{d}/out.log").read()[-2000:])
                time.sleep(0.5)
                before = lines(origin_log)
                subprocess.run(pb.taskset(args.load_cpus) + ["wrk", "-t1", "-c", str(args.conns), "-d1s"]
                               + sum((["-H", h] for h in headers), []) + [f"http://127.0.0.1:{PROXY}{path}"], capture_output=True)
                cpu0 = pb.cpu_seconds([proc.pid])
                res = wrk(args, path, headers, lua)
                res["cpu_s"] = pb.cpu_seconds([proc.pid]) - cpu0
                res["origin"] = lines(origin_log) - before
                stop(proc)
                res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
                res["cpu_us"] = res["cpu_s"] * 1e6 / max(res["requests"], 1)
                res["bytes_per_req"] = res["bytes"] / max(res["requests"], 1)
                results[name].append(res)
                print(f"round {r + 1} {name:8s} rps={res['rps']:9.0f} p99={res['p99'] / 1000:7.3f}ms "
                      f"cpu/req={res['cpu_us']:6.1f}us bytes/resp={res['bytes_per_req']:8.0f} "
                      f"origin_requests={res['origin']} errors={res['errors']} non2xx={res['non2xx']}", flush=True)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        print(f"\nscenario={args.scenario} size={args.size} conns={args.conns} rounds={args.rounds} (medians)")
        base = args.candidates[0]
        summary = {n: {k: med([x[k] for x in rs]) for k in ("rps", "p99", "cpu_us")} for n, rs in results.items()}
        for name, s in summary.items():
            b = summary[base]
            print(f"{name:8s} rps={s['rps']:9.0f} ({s['rps'] / b['rps']:.2f}x {base})  p99={s['p99'] / 1000:7.3f}ms "
                  f"({s['p99'] / max(b['p99'], 1):.2f}x)  cpu/req={s['cpu_us']:6.1f}us ({s['cpu_us'] / b['cpu_us']:.2f}x)")
    finally:
        os.killpg(origin_proc.pid, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
