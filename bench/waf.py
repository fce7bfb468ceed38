#!/usr/bin/env python3
"""The WAF's cost, side by side with nginx + ModSecurity (Debian's libnginx-mod-http-modsecurity,
libmodsecurity 3.0.9), both running Debian's OWASP CRS 3.3.4 at paranoia level 1.

    bench/waf.py --cpus 0:1:1 --rounds 3 --scenario get10 nginx nginx-waf ours ours-waf ours-other
    bench/waf.py --cpus 0:1:1 --rounds 3 --scenario post1k nginx-waf ours-waf

Scenarios: `get10`, a GET with ten query arguments; `post1k`, a 1 KiB form POST. Requests
carry a browser's headers (a host name, User-Agent, Accept) so that neither engine scores
a missing or numeric Host. One worker each; the origin is nginx answering 13 bytes to any
method. Candidates: `nginx` and `ours` plain; `nginx-waf` (`modsecurity on` with the rules,
ModSecurity's recommended body settings) and `ours-waf` (`[global] waf`); `ours-other`:
the WAF on another route only, to show what it costs the routes without it (`ours` has
that route too, without the WAF); `ours-tiny`: the same with a one-rule policy instead of CRS; `ours-again`: `ours` once
more, for the noise between two runs of the same thing; `ours-stream`: `ours` with
`request_buffer = 0` (bodies streamed, not read before the upstream is asked), for what
request buffering costs a POST.
"""
import argparse, importlib.util, os, shutil, signal, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("cachebench", os.path.join(HERE, "cache.py"))
cb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cb)
pb = cb.pb

CRS = ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"]
HEADERS = ["Host: shop.example", "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
           "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language: en-GB,en;q=0.8"]
GET10 = "/search?q=winter+boots&size=42&colour=brown&brand=any&min=20&max=150&sort=price&page=2&per_page=24&lang=en"
FORM = ("name=Ann+Example&email=ann%40example.com&subject=Order+12345&comment=" +
        "I+ordered+the+brown+boots+last+week+and+they+arrived+quickly%2C+thank+you.+" * 11)[:1024]
POST_LUA = """
wrk.method = "POST"
wrk.body = "%s"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
""" % FORM


def modsecurity_rules(d):
    path = f"{d}/modsec.conf"
    open(path, "w").write(
        "SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 1048576\nSecRequestBodyNoFilesLimit 1048576\n"
        "SecRequestBodyLimitAction Reject\n"
        'SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"\n'
        'SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400"\n'
        'SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400"\n'
        'SecRule MULTIPART_UNMATCHED_BOUNDARY "@eq 1" "id:200004,phase:2,t:none,log,deny"\n'
        + "".join(f"Include {f}\n" for f in CRS))
    return path


def origin(work, cpus):
    d = os.path.join(work, "origin")
    os.makedirs(d)
    open(f"{d}/nginx.conf", "w").write(f"""worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log error; daemon off;
events {{ worker_connections 16384; }}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{cb.ORIGIN}; keepalive_requests 1000000; client_body_buffer_size 64k;
    location / {{ return 200 "hello, world\\n"; }} }} }}""")
    proc = cb.start(["nginx", "-c", f"{d}/nginx.conf", "-p", d], open(f"{d}/out.log", "w"), cpus)
    assert pb.wait_port(cb.ORIGIN), "origin did not start"
    return proc


def candidate(name, d):
    # `ours-again`: `ours` a second time, interleaved with the rest — the noise floor.
    name = "ours" if name == "ours-again" else name
    if name.startswith("nginx"):
        waf = f"modsecurity on; modsecurity_rules_file {modsecurity_rules(d)};" if name == "nginx-waf" else ""
        load = "load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;" if waf else ""
        open(f"{d}/nginx.conf", "w").write(f"""{load}
worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 16384; }}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream o {{ server 127.0.0.1:{cb.ORIGIN}; keepalive 64; }}
  server {{ listen 127.0.0.1:{cb.PROXY}; keepalive_requests 1000000; {waf}
    location / {{ proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}""")
        return ["nginx", "-c", f"{d}/nginx.conf", "-p", d]
    files = CRS
    if name == "ours-tiny":
        # One rule instead of CRS's 700: tells the ruleset's size from the WAF's mere presence.
        open(f"{d}/tiny.conf", "w").write('SecRule ARGS "@contains attack" "id:1,phase:2,deny"\n')
        files = [f"{d}/tiny.conf"]
    rules = ", ".join(f'"{f}"' for f in files)
    policy = f'[waf.crs]\nrules = [{rules}]\n' if name in ("ours-waf", "ours-other", "ours-tiny") else ""
    everywhere = 'waf = "crs"' if name == "ours-waf" else ""
    streamed = "[global.limits]\nrequest_buffer = 0" if name == "ours-stream" else ""
    # `ours`, `ours-other` and `ours-tiny` have the same two routes: they differ by the WAF alone.
    other = '[[route]]\nhosts = ["admin.example"]\nupstream = "o"\n' + ('waf = "crs"\n' if name in ("ours-other", "ours-tiny") else "")
    open(f"{d}/forecourt.toml", "w").write(f"""[global]
workers = 1
admin = "127.0.0.1:{cb.ADMIN}"
access_log = "off"
{everywhere}
{streamed}
{policy}
[[listen]]
addr = "127.0.0.1:{cb.PROXY}"
{other}
[[route]]
upstream = "o"
[upstream.o]
servers = ["127.0.0.1:{cb.ORIGIN}"]
""")
    return [cb.FORECOURT, "run", "-c", f"{d}/forecourt.toml"]


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--scenario", choices=["get10", "post1k"], default="get10")
    ap.add_argument("--cpus", default="", help="PROXY:ORIGIN:LOAD cpu lists for taskset")
    ap.add_argument("candidates", nargs="*", default=["nginx-waf", "ours-waf"])
    args = ap.parse_args()
    args.proxy_cpus, origin_cpus, args.load_cpus = (args.cpus.split(":") + ["", "", ""])[:3] if args.cpus else ("", "", "")
    work = tempfile.mkdtemp(prefix="wafbench-")
    os.chmod(work, 0o755)
    origin_proc = origin(work, origin_cpus)
    lua = os.path.join(work, "load.lua")
    open(lua, "w").write((POST_LUA if args.scenario == "post1k" else "") + pb.WRK_LUA)
    path = GET10 if args.scenario == "get10" else "/contact"
    results = {c: [] for c in args.candidates}
    try:
        for r in range(args.rounds):
            for name in args.candidates:
                res = cb.measure(args, work, name, lambda d: candidate(name, d), path, HEADERS, lua)
                results[name].append(res)
                print(f"round {r + 1} {name:11s} rps={res['rps']:9.0f} p99={res['p99'] / 1000:8.3f}ms "
                      f"cpu/req={res['cpu_us']:8.2f}us errors={res['errors']} non2xx={res['non2xx']}", flush=True)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        print(f"\n{args.scenario}: conns={args.conns} rounds={args.rounds} (medians)")
        summary = {n: {k: med([x[k] for x in rs]) for k in ("rps", "p99", "cpu_us")} for n, rs in results.items()}
        ref = summary.get("nginx-waf")
        for name, s in summary.items():
            vs = f"  {s['rps'] / ref['rps']:.2f}x nginx-waf rps, p99 {s['p99'] / ref['p99']:.2f}x" if ref else ""
            print(f"{name:11s} rps={s['rps']:9.0f}  p99={s['p99'] / 1000:8.3f}ms  cpu/req={s['cpu_us']:8.2f}us{vs}")
    finally:
        os.killpg(origin_proc.pid, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
