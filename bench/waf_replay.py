#!/usr/bin/env python3
"""Replay a corpus of attack and benign requests through Forecourt's WAF and through nginx +
ModSecurity (Debian's libnginx-mod-http-modsecurity, libmodsecurity 3.0.9), both in blocking
mode with the same CRS at the same paranoia level, and count what each refused.

    bench/waf_replay.py --crs 3 --pl 1 corpus.jsonl
    bench/waf_replay.py --crs 4 --pl 4 --show disagreements corpus.jsonl

The corpus is JSON Lines, one request per line:

    {"kind": "attack", "name": "sqli union", "method": "GET", "path": "/?id=1 union select 1",
     "headers": [["User-Agent", "curl/8"]], "body": ""}

`kind` is `attack` or `benign`; `path` is sent as written (spaces and all: the raw request
line is the test); `headers` default to a browser's; `Host` is added when absent;
`Content-Length` is computed. `body_b64` may replace `body` for bytes that are not text.

Each engine is set up as its project ships it: nginx with Debian's `/etc/nginx/modsecurity.conf`
(`SecRuleEngine On` instead of `DetectionOnly`, the audit log moved into the work folder),
Forecourt with `[waf]` naming the same files and nothing else but the paranoia level. The
origin answers 200 to anything, so any 4xx/5xx counts as refused.
"""
import argparse, base64, importlib.util, json, os, shutil, signal, socket, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
# The reference harness's helpers, as bench/waf.py reaches them.
spec = importlib.util.spec_from_file_location("cachebench", os.path.join(HERE, "cache.py"))
cb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cb)
# FORECOURT=path/to/forecourt compares another build (an earlier commit's) with the same peers.
FORECOURT = os.environ.get("FORECOURT", os.path.join(HERE, "..", "target", "release", "forecourt"))
ORIGIN, MODSEC, OURS = 19300, 19301, 19302
CRS = {
    "3": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
    "4": [os.path.join(HERE, "..", "crates/forecourt/tests/data/crs-4.28/crs-setup.conf.example"),
          os.path.join(HERE, "..", "crates/forecourt/tests/data/crs-4.28/rules/*.conf")],
}
BROWSER = [["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"],
           ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
           ["Accept-Language", "en-GB,en;q=0.8"]]
NGINX_DIRS = "client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;"


def nginx(d, body):
    os.makedirs(d, exist_ok=True)
    open(f"{d}/nginx.conf", "w").write(body.replace("{d}", d))
    return subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d], stderr=subprocess.DEVNULL,
                            start_new_session=True)


def modsecurity_conf(d, files, pl, detect=False):
    """Debian's recommended configuration, switched on (left in detection when `detect`), then
    the paranoia level and the CRS."""
    shipped = open("/etc/nginx/modsecurity.conf").read()
    if not detect:
        shipped = shipped.replace("SecRuleEngine DetectionOnly", "SecRuleEngine On")
    shipped = shipped.replace("/var/log/nginx/modsec_audit.log", f"{d}/audit.log")
    shipped = shipped.replace("SecUnicodeMapFile unicode.mapping", "SecUnicodeMapFile /etc/nginx/unicode.mapping")
    level = (f'SecAction "id:900000,phase:1,pass,nolog,t:none,setvar:tx.paranoia_level={pl},'
             f'setvar:tx.blocking_paranoia_level={pl}"\n')
    path = f"{d}/modsec.conf"
    open(path, "w").write(shipped + "\n" + level + "".join(f"Include {f}\n" for f in files))
    return path


def start(work, crs, pl, detect=False, setup=None):
    """Starts the origin and both engines. `detect`: neither refuses, both log what matched
    (nginx's error log at `info`, where the connector writes each rule's message); `setup`:
    a rules file read between crs-setup.conf and the rules, by both."""
    files = CRS[crs] if setup is None else [CRS[crs][0], setup, CRS[crs][1]]
    for port in (ORIGIN, MODSEC, OURS):
        # A server left from an earlier run would answer in place of this one's.
        assert not cb.pb.wait_port(port, 0.1), f"port {port} is busy: a server of an earlier run?"
    procs = [nginx(f"{work}/origin", f"""worker_processes 1; pid {{d}}/nginx.pid; error_log {{d}}/error.log error; daemon off;
events {{ worker_connections 1024; }}
http {{ access_log off; {NGINX_DIRS} client_max_body_size 100m;
  server {{ listen 127.0.0.1:{ORIGIN}; location / {{ return 200 "ok\\n"; }} }} }}""")]
    os.makedirs(f"{work}/modsec")
    rules = modsecurity_conf(f"{work}/modsec", files, pl, detect)
    level = "info" if detect else "warn"
    procs.append(nginx(f"{work}/modsec", f"""load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;
worker_processes 1; pid {{d}}/nginx.pid; error_log {{d}}/error.log {level}; daemon off;
events {{ worker_connections 1024; }}
http {{ access_log off; {NGINX_DIRS} client_max_body_size 100m;
  server {{ listen 127.0.0.1:{MODSEC}; modsecurity on; modsecurity_rules_file {rules};
    location / {{ proxy_pass http://127.0.0.1:{ORIGIN}; }} }} }}"""))
    os.makedirs(f"{work}/ours")
    quoted = ", ".join(f'"{f}"' for f in files)
    open(f"{work}/ours/forecourt.toml", "w").write(f"""[global]
workers = 1
admin = "off"
access_log = "{work}/ours/access.log"
waf = "crs"
[waf.crs]
rules = [{quoted}]
paranoia_level = {pl}
mode = "{'detect' if detect else 'block'}"
[[listen]]
addr = "127.0.0.1:{OURS}"
[[route]]
upstream = "o"
[upstream.o]
servers = ["127.0.0.1:{ORIGIN}"]
""")
    procs.append(subprocess.Popen([FORECOURT, "run", "-c", f"{work}/ours/forecourt.toml"],
                                  stdout=subprocess.DEVNULL, stderr=open(f"{work}/ours/err.log", "w"),
                                  start_new_session=True))
    for port, name in ((ORIGIN, "origin"), (MODSEC, "nginx + ModSecurity"), (OURS, "forecourt")):
        assert cb.pb.wait_port(port, 120), f"{name} did not start (see {work})"
    return procs


def stop(procs):
    """SIGTERM (both stop on it; SIGQUIT is ignored by a process a background shell job
    started), then waits for each to go, so that the next run finds its ports free."""
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(10)


def raw_request(case):
    method = case.get("method", "GET")
    headers = case.get("headers") or BROWSER
    body = base64.b64decode(case["body_b64"]) if "body_b64" in case else case.get("body", "").encode()
    lines = [f"{method} {case['path']} HTTP/1.1"]
    if not any(k.lower() == "host" for k, _ in headers):
        lines.append("Host: shop.example")
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("content-length", "connection")]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def status(port, request, timeout=10):
    """The status the server answered, 0 when it closed without one (or gave none within
    `timeout` seconds)."""
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.settimeout(timeout)
            s.sendall(request)
            got = b""
            while b"\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            parts = got.split(b" ", 2)
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except (OSError, ValueError):
        return 0


def audit_size(work):
    try:
        return os.path.getsize(f"{work}/modsec/audit.log")
    except OSError:
        return 0


def modsec_rules(work, since, refused):
    """The rule ids in what ModSecurity's audit log gained after offset `since` (nothing when
    it logged nothing for the request: not the ids of an earlier one). nginx writes the
    entry in its log phase, after the answer has gone out: for a refused request it is
    waited for, a second at most."""
    for _ in range(50 if refused else 0):
        if audit_size(work) > since:
            break
        time.sleep(0.02)
    try:
        with open(f"{work}/modsec/audit.log", "rb") as log:
            log.seek(since)
            added = log.read().decode(errors="replace")
    except OSError:
        return ""
    return ",".join(part.split('"', 1)[0] for part in added.split('[id "')[1:])


def our_rules(work):
    """The rule ids Forecourt's access log gives for its last request."""
    try:
        last = json.loads(open(f"{work}/ours/access.log").read().strip().rsplit("\n", 1)[-1])
    except (OSError, ValueError):
        return ""
    return str(last.get("waf_rules", ""))


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--crs", choices=["3", "4"], default="3")
    ap.add_argument("--pl", type=int, choices=[1, 2, 3, 4], default=1)
    ap.add_argument("--show", choices=["none", "disagreements", "all"], default="disagreements")
    ap.add_argument("corpus")
    args = ap.parse_args()
    cases = [json.loads(line) for line in open(args.corpus, encoding="utf-8", errors="surrogateescape") if line.strip() and not line.startswith("#")]
    work = tempfile.mkdtemp(prefix="wafreplay-")
    os.chmod(work, 0o755)
    procs = start(work, args.crs, args.pl)
    counts = {(engine, kind): [0, 0] for engine in ("modsec", "ours") for kind in ("attack", "benign")}
    try:
        for case in cases:
            request = raw_request(case)
            logged = audit_size(work)
            theirs, ours = status(MODSEC, request), status(OURS, request)
            refused = {"modsec": theirs == 0 or theirs >= 400, "ours": ours == 0 or ours >= 400}
            for engine, r in refused.items():
                counts[(engine, case["kind"])][0] += r
                counts[(engine, case["kind"])][1] += 1
            if args.show == "all" or (args.show == "disagreements" and refused["modsec"] != refused["ours"]):
                print(f"{case['kind']:6s} modsec={theirs:3d} ours={ours:3d}  {case.get('name', case['path'])[:100]}"
                      f"  [modsec: {modsec_rules(work, logged, refused['modsec'])}] [ours: {our_rules(work)}]")
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nCRS {args.crs}, PL{args.pl}, {len(cases)} requests")
    for engine, label in (("modsec", "nginx + ModSecurity 3.0.9"), ("ours", "Forecourt")):
        a, b = counts[(engine, "attack")], counts[(engine, "benign")]
        print(f"{label:27s} attacks refused {a[0]:5d}/{a[1]:<5d} ({100 * a[0] / max(a[1], 1):5.1f}%)   "
              f"benign refused {b[0]:5d}/{b[1]:<5d} ({100 * b[0] / max(b[1], 1):5.1f}%)")


if __name__ == "__main__":
    main()
