#!/usr/bin/env python3
"""The cost of a rate limit that is never hit, side by side with nginx's limit_req, and of
a 200,000-entry deny list that never matches, side by side with nginx's geo module.

    bench/limits.py --cpus 0:1:1 --rounds 3 nginx nginx-limit ours ours-limit nginx-deny ours-deny

Every request comes from one of 10,000 client addresses (wrk sets X-Forwarded-For from a
pool; both proxies trust it from 127.0.0.1: nginx's real_ip module, Forecourt's
trusted_proxies), so a per-address limit holds 10,000 keys. The limit's rate is far above
the load (1,000,000/s per address, as limit_req's `rate=1000000r/s`), so nothing is ever
refused: what is measured is what counting costs. The origin is nginx answering 13 bytes.
The candidates ending in -limit add the limit, those ending in -deny the list (200,000
/24s, every other one from 1.0.0.0: none holds a client, all are looked up); compare each
with its own plain run.
"""
import argparse, importlib.util, os, shutil, signal, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("cachebench", os.path.join(HERE, "cache.py"))
cb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cb)
pb = cb.pb

CLIENTS_LUA = """
local n = 0
request = function()
  n = n + 1
  local i = n % 10000
  local addr = string.format("10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  return wrk.format("GET", "/tiny", {["X-Forwarded-For"] = addr})
end
""" + pb.WRK_LUA


def deny_list(d):
    """200,000 non-adjacent /24s, as a Forecourt list file and as nginx geo entries."""
    nets = [f"{1 + j // 65536}.{(j // 256) % 256}.{j % 256}.0/24" for j in range(0, 400_000, 2)]
    open(f"{d}/deny.txt", "w").write("\n".join(nets) + "\n")
    open(f"{d}/deny.geo", "w").write("".join(f"{n} 1;\n" for n in nets))


def candidate(name, d):
    limit = name.endswith("-limit")
    deny = name.endswith("-deny")
    if deny:
        deny_list(d)
    if name.startswith("nginx"):
        zone = "limit_req_zone $binary_remote_addr zone=per_ip:16m rate=1000000r/s;" if limit else ""
        apply = "limit_req zone=per_ip burst=100 nodelay;" if limit else ""
        if deny:
            zone = f"geo $denied {{ default 0; include {d}/deny.geo; }}"
            apply = "if ($denied) { return 403; }"
        open(f"{d}/nginx.conf", "w").write(f"""
worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;
  {zone}
  upstream o {{ server 127.0.0.1:{cb.ORIGIN}; keepalive 64; }}
  server {{ listen 127.0.0.1:{cb.PROXY}; location / {{ {apply} proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
}}""")
        return ["nginx", "-c", f"{d}/nginx.conf", "-p", d]
    limits = '[limits.per_ip]\nrate = "1000000/s"\nburst = 100\n' if limit else ""
    if deny:
        limits = f'[lists.feed]\nfile = "{d}/deny.txt"\n'
    open(f"{d}/forecourt.toml", "w").write(f"""
[global]
workers = 1
admin = "127.0.0.1:{cb.ADMIN}"
access_log = "off"
trusted_proxies = ["127.0.0.1"]
{limits}
[[listen]]
addr = "127.0.0.1:{cb.PROXY}"
[[route]]
upstream = "o"
{'limits = ["per_ip"]' if limit else ''}
{'deny = ["feed"]' if deny else ''}
[upstream.o]
servers = ["127.0.0.1:{cb.ORIGIN}"]
""")
    return [cb.FORECOURT, "run", "-c", f"{d}/forecourt.toml"]


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--cpus", default="", help="PROXY:ORIGIN:LOAD cpu lists for taskset")
    ap.add_argument("candidates", nargs="*", default=["ours", "ours-limit"])
    args = ap.parse_args()
    args.proxy_cpus, origin_cpus, args.load_cpus = (args.cpus.split(":") + ["", "", ""])[:3] if args.cpus else ("", "", "")
    work = tempfile.mkdtemp(prefix="limitbench-")
    os.chmod(work, 0o755)
    origin_proc, _ = cb.origin(work, origin_cpus)
    lua = os.path.join(work, "clients.lua")
    open(lua, "w").write(CLIENTS_LUA)
    results = {c: [] for c in args.candidates}
    try:
        for r in range(args.rounds):
            for name in args.candidates:
                res = cb.measure(args, work, name, lambda d: candidate(name, d), "/tiny", [], lua)
                results[name].append(res)
                print(f"round {r + 1} {name:12s} rps={res['rps']:9.0f} p99={res['p99'] / 1000:7.3f}ms "
                      f"cpu/req={res['cpu_us']:6.2f}us errors={res['errors']} non2xx={res['non2xx']}", flush=True)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        print(f"\nconns={args.conns} rounds={args.rounds} (medians); a -limit or -deny run against its own plain run")
        summary = {n: {k: med([x[k] for x in rs]) for k in ("rps", "p99", "cpu_us")} for n, rs in results.items()}
        for name, s in summary.items():
            base = summary.get(name.removesuffix("-limit").removesuffix("-deny"), s)
            print(f"{name:12s} rps={s['rps']:9.0f} ({s['rps'] / base['rps']:.3f}x)  p99={s['p99'] / 1000:7.3f}ms  "
                  f"cpu/req={s['cpu_us']:6.2f}us ({(s['cpu_us'] / base['cpu_us'] - 1) * 100:+.1f}% CPU per request)")
    finally:
        os.killpg(origin_proc.pid, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
