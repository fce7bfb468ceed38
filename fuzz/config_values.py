#!/usr/bin/env python3
"""Config values at their edges: a config that sets nearly every documented key (TLS
listeners, one asking for client certificates, automatic certificates from the internal CA
and from an ACME CA that cannot be reached, the cache with a disk tier, compression, the
WAF, rate limits local and in a real Redis, lists, GeoIP, bans, the challenge, splits,
mirrors, upstreams by DNS name and over TLS, health checks, retries), one to three of its
values replaced at a time (zero, negative, huge, empty, a duration or size
near its type's limit, a value of another type) or removed.

Each mutated file goes through `forecourt check`, which must give a verdict (no panic, no
hang) and place every error at file:line:col; then through `POST /reload` on a running
proxy, which must agree with `check`; then, when accepted, requests over HTTP/1, HTTP/2,
TLS and the admin API. A twentieth of the accepted files start a process of their own
instead, for what only a start reads. After each, a reload back to the first config must
be accepted and the proxy answer. The verdict at the end: no panic, the proxy alive.

    fuzz/config_values.py target/debug/forecourt 600      # binary, seconds; SEED=n

An accepted config is also watched for a second with no traffic: a process using half a
core then has a loop that spins (a period of zero, a retry without a pause).
"""
import json, os, random, re, shutil, signal, ssl, subprocess, sys, time, urllib.request

from harness import WORK, Proxy, exchange, page_origin, wait_port

PORT, TLS_PORT, ADMIN, ORIGIN, SHADOW, REDIS = 19400, 19401, 19402, 19403, 19404, 19405
SECURE, MTLS_PORT = 19406, 19407  # an origin over TLS; a listener that asks for client certificates
DIR = os.path.join(WORK, "config")

RULES = """SecRuleEngine On
SecRequestBodyAccess On
SecRule ARGS "@contains attack" "id:1001,phase:2,deny,status:403,log,msg:'attack'"
SecRule REQUEST_HEADERS:User-Agent "@rx (?i)sqlmap" "id:1002,phase:1,deny,status:403"
"""


def baseline():
    """The config every mutation starts from: every section the proxy has, each valid."""
    return {
        "global": {
            "workers": 2, "admin": f"127.0.0.1:{ADMIN}", "access_log": "access.log",
            "access_log_format": "json", "trusted_proxies": ["10.0.0.0/8", "crawlers"],
            "hide_headers": ["Server", "X-Powered-By"], "shutdown_timeout": "2s",
            "pid_file": "fc.pid", "data_dir": "data", "limits": {
                "max_header_bytes": "32k", "max_headers": 100, "max_uri_bytes": "8k", "max_body": "10m",
                "request_buffer": "64k", "min_body_rate": "256/s", "min_body_rate_grace": "10s",
                "non_ascii_targets": "escape",
                "apply": ["global_rate"]},
            "timeouts": {
                "client_header": "30s", "client_body": "60s", "client_send": "60s", "keepalive": "75s",
                "upstream_connect": "5s", "upstream_header": "60s", "upstream_idle": "60s"},
            "dns": {"min_ttl": "1s", "max_ttl": "5m"},
        },
        "listen": [
            {"addr": f"127.0.0.1:{PORT}", "max_connections": 1000, "max_connections_per_ip": 500,
             "new_connections_per_ip": "1000/s", "per_ip_exempt": ["regions"], "deny": ["blocked"]},
            {"addr": f"127.0.0.1:{TLS_PORT}", "tls": True},
            {"addr": f"127.0.0.1:{MTLS_PORT}", "tls": True, "client_ca": "cert.pem", "client_auth": "optional",
             "client_cert_header": "X-Client-Cert"},
        ],
        "tls": {"policy": "intermediate", "protocols": ["1.2", "1.3"], "session_resumption": True,
                "session_tickets": True, "ticket_key_rotation": "6h", "storage": "store", "issuer": "acme",
                "certificates": [{"cert": "cert.pem", "key": "key.pem", "default": True}],
                "client_certs": [{"hosts": ["admin.a"], "ca": "cert.pem", "required": True,
                                  "header": "X-Client-Cert"}]},
        # Nothing listens on port 1: orders fail at once and are retried on the backoff.
        "acme": {"email": "ops@example.com", "directory": "http://127.0.0.1:1/dir", "ca_bundle": "cert.pem",
                 "challenges": ["http-01", "tls-alpn-01"], "names": ["more.example"], "exclude": ["skip.example"]},
        "geoip": {"databases": ["geo.mmdb"], "country_header": "X-Country-Code", "asn_header": "X-ASN"},
        "limits": {
            "global_rate": {"rate": "10000/s", "burst": 1000, "key": "ip", "action": "reject",
                            "store": "local", "ipv6_prefix": 64, "max_keys": 100000, "exempt": ["regions"],
                            "dry_run": False},
            "per_key": {"rate": "600/min", "burst": 50, "key": "header:X-Api-Key+path", "action": "delay",
                        "store": "redis"},
        },
        "lists": {
            "blocked": {"cidrs": ["192.0.2.0/24", "2001:db8::/32"], "file": "blocked.txt", "format": "auto"},
            "feed": {"url": f"http://127.0.0.1:{ORIGIN}/feed", "refresh": "1h"},
            "regions": {"countries": ["KP"], "asns": [64511]},
            "crawlers": {"file": "crawlers.json", "format": "json"},
        },
        "bans": {"duration": "10m", "exempt": ["regions"], "rules": {"scanners": {
            "on": ["status:404"], "count": 1000, "window": "1m", "duration": "1h", "dry_run": False}}},
        "challenge": {"difficulty": 4, "pass_for": "1h", "rotate": "1h", "solve_within": "5m",
                      "cookie": "forecourt_pass", "no_js": "wait", "no_js_wait": "5s", "under_attack": False,
                      "exempt": ["/api/webhooks/"], "exempt_clients": ["regions", "crawlers"], "ipv6_prefix": 64,
                      "rules": {"tools": {"user_agent": "(?i)sqlmap", "missing_headers": ["x-never"]}}},
        "redis": {"url": f"redis://127.0.0.1:{REDIS}", "timeout": "100ms", "prefix": "fcfuzz:"},
        "waf": {"small": {"rules": ["rules.conf"], "paranoia_level": 1, "anomaly_threshold": 5, "mode": "block",
                          "request_body_limit": "1m", "upload_limit": "12800k", "upload_memory": "128m",
                          "upload_wait": "15s", "body_over_limit": "reject", "inspection_budget": "50ms",
                          "over_budget": "block", "audit_log": "waf.json", "response_inspection": False,
                          "exempt_clients": ["regions"],
                          "response_body_limit": "512k",
                          "exclusions": [{"rule": 1001, "path": "/search"}, {"tag": "fuzz", "target": "ARGS:q"}]}},
        "cache": {"memory": "16m", "max_object": "1m", "disk": {"path": "cache", "size": "64m"},
                  "targeted_field": "Forecourt-Cache-Control", "surrogate_id": "forecourt",
                  "tag_headers": ["Cache-Tag", "Surrogate-Key"], "lock_timeout": "5s",
                  "purge_from": ["127.0.0.1"]},
        "compress": {"codings": ["zstd", "br", "gzip"], "levels": {"zstd": 3, "br": 4, "gzip": 6},
                     "types": ["text/*", "application/json"], "min_size": "1k"},
        "route": [
            {"name": "cached", "path": "/c/", "upstream": "app", "methods": ["GET", "HEAD", "POST"],
             "cache": {"key": {"query": "sort", "ignore_params": ["utm_*"], "headers": ["X-Tenant"],
                               "cookies": ["lang"]},
                       "default_ttl": {"200": "1m", "404": "10s", "any": "1s"}, "max_ttl": "1h",
                       "override_ttl": {"404": "5s"},
                       "stale_while_revalidate": "30s", "stale_if_error": "1h",
                       "stale_if_unreachable": "1d", "ignore_client_no_cache": False, "store_set_cookie": True,
                       "bypass": {"headers": ["X-Debug"], "cookies": ["nocache"]}},
             "compress": True, "limits": ["per_key"]},
            {"name": "waf", "path": "/w/", "upstream": "app", "waf": "small", "max_body": "1m",
             "request_headers": {"set": {"X-From": "fc"}, "add": {"X-Add": "1"}, "remove": ["X-Drop"]},
             "response_headers": {"set": {"X-Served": "fc"}, "remove": ["X-Powered-By"]}},
            {"name": "split", "path": "~^/s[0-9]*/", "split": [{"upstream": "app", "weight": 90},
                                                             {"upstream": "shadow", "weight": 10,
                                                              "when_header": "X-Canary: always"}],
             "split_sticky": "cookie"},
            {"name": "mirror", "path": "/m/", "upstream": "app", "mirror": {"upstream": "shadow", "percent": 50},
             "retry_buffer": "64k", "request_buffer": "16k", "retry_non_idempotent": True},
            {"name": "gate", "path": "/g/", "upstream": "app", "challenge": True, "allow": ["blocked"],
             "hsts": "max-age=60", "strip_prefix": "/g", "noop_filters": 2},
            {"name": "answer", "path": "=/r", "respond": {"status": 200, "body": "here"}},
            {"name": "away", "path": "/away", "redirect": {"to": "https://example.com{uri}", "status": 301}},
            {"name": "geo", "path": "/geo/", "upstream": "app", "countries": ["DE", "AT"], "deny": ["regions"]},
            {"name": "secure", "path": "/t/", "upstream": "secure"},
            {"name": "named", "path": "/n/", "upstream": "named",
             "hosts": ["pub.example", "local.localhost", "skip.example"]},
            {"name": "rest", "upstream": "app", "headers": {"X-Never": "*"}, "https_redirect": False},
            {"name": "last", "upstream": "app"},
        ],
        "upstream": {
            "app": {"servers": [f"127.0.0.1:{ORIGIN}", {"addr": f"127.0.0.1:{SHADOW}", "weight": 1,
                                                        "backup": True, "max_conns": 100}],
                    "balance": "p2c_ewma", "max_requests": 1000, "queue": 10, "queue_timeout": "10s",
                    "slow_start": "1s", "protocol": "http1", "connect_timeout": "2s", "response_timeout": "5s",
                    "keepalive_idle": "60s", "keepalive_max": 64,
                    "health": {"type": "http", "path": "/", "method": "GET", "status": "200-399", "body": "hello",
                               "interval": "2s", "timeout": "1s", "rise": 2, "fall": 3},
                    "eject": {"failures": 5, "window": "10s", "statuses": [502, 503, 504], "base_time": "10s",
                              "max_time": "5m", "max_percent": 50},
                    "retry": {"attempts": 2, "statuses": [502], "on_timeout": True, "per_try_timeout": "2s",
                              "deadline": "5s", "budget_percent": 20, "budget_min_per_sec": 10}},
            "shadow": {"servers": [f"127.0.0.1:{SHADOW}"], "balance": "hash", "key": "header:X-User"},
            "secure": {"servers": [f"https://localhost:{SECURE}"], "tls_ca": "cert.pem", "tls_server_name": "a",
                       "tls_client_cert": "cert.pem", "tls_client_key": "key.pem", "protocol": "http1",
                       "health": {"type": "http", "path": "/", "interval": "2s", "timeout": "1s"}},
            "named": {"servers": [f"localhost:{ORIGIN}"], "balance": "round_robin"},
        },
    }


DURATIONS = ["0s", "0ms", "1ms", "0.0000001s", "3650d", "3651d", "150000000000000d", "1e3s", "-1s", "",
             "s", "1.5", "nan", "1 h", ".5s", "9" * 30 + "ms", "24h", "1s"]
SIZES = [0, 1, "0", "0k", "1", "16777216g", "18446744073709551615", 2**63 - 1, -1, "", "k", "1t", "1.5m", "1kib"]
RATES = ["0/s", "1/s", "1/d", "4294967296/s", "18446744073709551615/s", "-1/s", "/s", "1/", "1/year", "1e9/min",
         "0.5/s", "off", ""]
INTS = [0, 1, -1, 2, 32, 33, 64, 128, 129, 255, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -2**63]
FLOATS = [0.0, -1.0, 100.0, 100.5, 1e308, float("nan"), float("inf"), -0.0]
STRINGS = ["", " ", "x", "*", "~", "~(", "~^(a+)+$", "=", "=/", "..", ".", "sub/dir", "0.0.0.0:0", "127.0.0.1:0",
           "[::1]:1", ":", "a" * 5000, "ü", "\t", "status:", "status:999", "header:", "cookie:", "ip+ip",
           "redis://", "redis://127.0.0.1:1", "http://", "-", "{uri}{uri}{host}", "%", "\\", "max-age=-1"]


def kind_of(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "table"
    if re.fullmatch(r"[0-9.]+(ms|s|m|h|d)", value):
        return "duration"
    if re.fullmatch(r"[0-9]+/(s|min|h|d)", value):
        return "rate"
    if re.fullmatch(r"[0-9]+[kmg]?", value):
        return "size"
    return "string"


def edge_value(rnd, kind):
    """A value at the edge of `kind`, or now and then one of any other kind."""
    if rnd.random() < 0.15:
        kind = rnd.choice(["bool", "int", "float", "list", "duration", "rate", "size", "string", "table"])
    if kind == "bool":
        return rnd.choice([True, False])
    if kind == "int":
        return rnd.choice(INTS)
    if kind == "float":
        return rnd.choice(FLOATS)
    if kind == "duration":
        return rnd.choice(DURATIONS)
    if kind == "rate":
        return rnd.choice(RATES)
    if kind == "size":
        return rnd.choice(SIZES)
    if kind == "table":
        return rnd.choice([{}, {"x": 1}, {"upstream": "app"}])
    if kind == "list":
        return rnd.choice([[], [""], ["x"] * 3, [rnd.choice(STRINGS) for _ in range(rnd.randint(1, 4))],
                           [0, -1], ["a"] * 2000])
    return rnd.choice(STRINGS)


def leaves(node, path=()):
    """Every (path, value) below `node`, tables included."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield path + (key,), value
        if isinstance(value, (dict, list)) and not (isinstance(value, list) and all(
                not isinstance(v, (dict, list)) for v in value)):
            yield from leaves(value, path + (key,))


def mutate(rnd, conf):
    """One to three values of `conf` changed or removed, in place; what was done."""
    done = []
    for _ in range(rnd.randint(1, 3)):
        path, value = rnd.choice(list(leaves(conf)))
        parent = conf
        for key in path[:-1]:
            parent = parent[key]
        if rnd.random() < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
            done.append(f"- {'.'.join(map(str, path))}")
        else:
            parent[path[-1]] = edge_value(rnd, kind_of(value))
            done.append(f"{'.'.join(map(str, path))} = {parent[path[-1]]!r:.60}")
    return done


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {scalar(x)}" for k, x in v.items()) + "}"


def dump(conf):
    """`conf` as TOML: tables as [a.b], arrays of tables as [[a.b]], inline below those."""
    out = []

    def table(node, name):
        subs = []
        for k, v in node.items():
            if isinstance(v, dict) and v:
                subs.append((k, v, False))
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                subs.append((k, v, True))
            else:
                out.append(f"{json.dumps(k)} = {scalar(v)}")
        for k, v, many in subs:
            full = f"{name}.{json.dumps(k)}" if name else json.dumps(k)
            for entry in (v if many else [v]):
                out.append(f"\n[[{full}]]" if many else f"\n[{full}]")
                if many:  # below an array of tables, everything inline
                    out.extend(f"{json.dumps(a)} = {scalar(b)}" for a, b in entry.items())
                else:
                    table(entry, full)

    table(conf, "")
    return "\n".join(out) + "\n"


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", ""


def reload():
    """The admin API's answer to `POST /reload`: (status, text), or (None, why)."""
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{ADMIN}/reload", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def probe(rnd, port, tls_port, admin):
    """Requests through every route over HTTP/1, HTTP/2 and TLS, and the admin API (its
    write endpoints with odd bodies too); the admin calls answered with a 5xx (bad input
    there deserves a 4xx), as "METHOD PATH BODY -> STATUS LINE"."""
    for path in ["/c/a?b=1&a=2", "/w/x?q=attack", "/s1/", "/m/", "/g/x", "/r", "/away", "/geo/", "/t/", "/",
                 "/nope"]:
        # Mostly a browser's: the challenge's rule `tools` stops sqlmap before any route.
        agent = "sqlmap/1.7" if rnd.random() < 0.25 else "Mozilla/5.0"
        exchange(port, f"GET {path} HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br, zstd\r\n"
                       f"X-Api-Key: k\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n".encode(), timeout=0.5)
    exchange(port, b"POST /c/p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nq=attack&x=", timeout=0.5)
    exchange(port, b"PURGE /c/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=0.5)
    exchange(port, b"PURGE /c/a HTTP/1.1\r\nHost: a\r\nSoft-Purge: 1\r\nConnection: close\r\n\r\n", timeout=0.5)
    exchange(port, b"GET /n/ HTTP/1.1\r\nHost: local.localhost\r\nConnection: close\r\n\r\n", timeout=0.5)
    exchange(port, b"GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: pub.example\r\n\r\n", timeout=0.5)
    for args in (["--http2-prior-knowledge", f"http://127.0.0.1:{port}/c/a"],
                 ["-k", "--http2", f"https://127.0.0.1:{tls_port}/w/x?q=1"],
                 ["-k", "--http1.1", f"https://127.0.0.1:{tls_port}/s/"],
                 ["-k", "--resolve", f"local.localhost:{tls_port}:127.0.0.1", f"https://local.localhost:{tls_port}/n/"],
                 ["-k", "--resolve", f"admin.a:{tls_port}:127.0.0.1", f"https://admin.a:{tls_port}/"],
                 ["-k", "--cert", f"{DIR}/cert.pem", "--key", f"{DIR}/key.pem", f"https://127.0.0.1:{MTLS_PORT}/"]):
        run(["curl", "-s", "-o", "/dev/null", "-m", "2", *args], 5)
    for path in ["/metrics", "/health", "/api/cache", "/api/bans", "/api/routes", "/api/upstreams",
                 "/api/certificates"]:
        exchange(admin, f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode(), timeout=1)
    failed = []
    for method, path, body in admin_calls(rnd):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        answer = exchange(admin, f"{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data, timeout=1)
        if re.match(rb"HTTP/1\.1 5", answer):
            status_line = answer.split(b"\r\n")[0].decode("latin-1")
            failed.append(f"{method} {path} {data[:80]!r} -> {status_line}")
    return failed


ADDRESSES = ["10.1.2.3", "::2", "2001:db8::1/64", "2001:db8::/200", "300.1.1.1", "", "1.2.3.4/99", "fe80::1%eth0",
             "a" * 300]
ODD = [None, 0, -1, 1, 2**64 - 1, 2**64, 1e308, -1e308, "1s", "3651d", "0s", "x", [], {}, True, "\u0000",
       "%", "http://[::1", "\u00ff" * 1000, "/c/a", "", "*"]


def admin_calls(rnd):
    """Two to five calls to the admin API's write endpoints with odd bodies and paths; the
    challenge switch set back to off at the end (else every later probe is challenged)."""
    calls = []
    for _ in range(rnd.randint(2, 5)):
        what = rnd.randrange(6)
        if what == 0:
            calls.append(("POST", "/api/bans", {"address": rnd.choice(ADDRESSES), "duration": rnd.choice(ODD),
                                                "reason": rnd.choice(["", "\u0000", "a" * 10000, 7])}))
        elif what == 1:
            calls.append(("DELETE", f"/api/bans/{rnd.choice(ADDRESSES)}", b""))
        elif what == 2:
            purge = {rnd.choice(["url", "prefix", "tag", "all"]): rnd.choice(ODD)}
            if rnd.random() < 0.5:
                purge["soft"] = rnd.choice(ODD)
            calls.append(("POST", "/api/cache/purge", purge))
        elif what == 3:
            calls.append(("PUT", "/api/challenge", {"under_attack": rnd.choice(ODD)}))
        elif what == 4:
            server = rnd.choice([f"127.0.0.1:{ORIGIN}", "", "..", "%00", "127.0.0.1:1"])
            calls.append(("POST", f"/api/upstreams/{rnd.choice(['app', 'shadow', 'x', ''])}/servers/{server}/"
                                  f"{rnd.choice(['drain', 'enable', 'x'])}", b""))
        else:
            calls.append((rnd.choice(["POST", "PATCH", "DELETE"]), rnd.choice(
                ["/api/certificates/a", "/api/cache", "/api/bans/", "/reload/x", "/api/challenge/x"]),
                bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))))
    calls.append(("PUT", "/api/challenge", {"under_attack": False}))
    return calls


def idle_cpu(pid, seconds=1.0):
    """The share of a core the process used over `seconds` with no requests (after the
    probes' last connections had a moment to close)."""
    def ticks():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    time.sleep(0.3)
    before = ticks()
    time.sleep(seconds)
    return (ticks() - before) / os.sysconf("SC_CLK_TCK") / seconds


def serves(port, within=5.0):
    """Whether the proxy on `port` answers an ordinary request with a status line."""
    end = time.time() + within
    while time.time() < end:
        if exchange(port, b"GET /r HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=1).startswith(
                b"HTTP/1.1 "):
            return True
        time.sleep(0.2)
    return False


def start_alone(rnd, binary, path, log):
    """A process of its own on the mutated file (after the main one stepped aside); whether
    it panicked."""
    with open(log, "wb") as out:
        p = subprocess.Popen([binary, "run", "-c", path], stdout=out, stderr=subprocess.STDOUT)
        time.sleep(1.0)
        if p.poll() is None:
            probe(rnd, PORT, TLS_PORT, ADMIN)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return "panicked" in open(log, "rb").read().decode("utf-8", "replace")


def redis_refusals(proxy):
    """The first error Redis answered the proxy with since the last look (its log's new
    lines), or "": with Redis running throughout, a `ResponseError` is a command the proxy
    built wrong (it then counts Redis as down, and state stops being shared)."""
    with open(proxy.log_path, "rb") as f:
        f.seek(getattr(proxy, "log_seen", 0))
        text = f.read().decode("utf-8", "replace")
        proxy.log_seen = f.tell()
    line = next((line for line in text.splitlines() if "ResponseError" in line), "")
    return line[-400:]


def stop(proxy):
    """Stops the main proxy before another takes its ports; whether it had panicked."""
    proxy.proc.terminate()
    proxy.proc.wait()
    proxy.log.close()
    text = open(proxy.log_path, "rb").read().decode("utf-8", "replace")
    if "panicked" in text:
        print(text[-2000:])
        return True
    os.replace(proxy.log_path, proxy.log_path + f".{time.time():.0f}")
    return False


def prepare():
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{DIR}/key.pem", "-out", f"{DIR}/cert.pem", "-days", "2", "-subj", "/CN=a",
                    "-addext", "subjectAltName=DNS:a",
                    # Not a CA: the same file is then also the CA that vouches for itself (the
                    # TLS origin's for `tls_ca`, a client's for `client_ca`), which webpki allows.
                    "-addext", "basicConstraints=critical,CA:FALSE"], check=True, capture_output=True)
    with open(f"{DIR}/rules.conf", "w") as f:
        f.write(RULES)
    with open(f"{DIR}/blocked.txt", "w") as f:
        f.write("# a feed\n198.51.100.0/24\n203.0.113.7\n")
    with open(f"{DIR}/crawlers.json", "w") as f:  # as Google publishes googlebot.json
        f.write('{\n  "creationTime": "2026-12-01T23:00:50.000000",\n  "prefixes": [\n'
                '    {"ipv6Prefix": "2001:4860:4801:10::/64"},\n    {"ipv4Prefix": "66.249.64.0/27"}\n  ]\n}\n')
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds/parsers/geoip"), "rb") as f:
        geo = f.read()[1:]  # the first byte picks the parsers target's case
    with open(f"{DIR}/geo.mmdb", "wb") as f:
        f.write(geo)
    return subprocess.Popen(["redis-server", "--port", str(REDIS), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)


def main():
    binary, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 300
    rnd = random.Random(int(os.environ.get("SEED", "1")))
    redis = prepare()
    try:
        return fuzz(binary, seconds, rnd)
    finally:
        redis.terminate()


def fuzz(binary, seconds, rnd):
    page_origin(ORIGIN, 60)
    page_origin(SHADOW, 60)
    origin_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    origin_tls.load_cert_chain(f"{DIR}/cert.pem", f"{DIR}/key.pem")
    page_origin(SECURE, 60, origin_tls)
    wait_port(REDIS)
    base_text = dump(baseline())
    conf_path = f"{DIR}/fc.toml"
    with open(conf_path, "w") as f:
        f.write(base_text)
    code, out = run([binary, "check", "-c", conf_path], 60)
    if code != 0:
        raise SystemExit(f"the baseline does not check: {out}")
    proxy = Proxy(binary, "config", base_text, PORT)
    counts = {"checked": 0, "accepted": 0, "refused": 0, "alone": 0}
    findings = []
    end = time.time() + seconds
    while time.time() < end and proxy.alive():
        conf = baseline()
        done = mutate(rnd, conf)
        text = dump(conf)
        with open(conf_path, "w") as f:
            f.write(text)
        code, out = run([binary, "check", "-c", conf_path], 60)
        counts["checked"] += 1
        where = re.search(r"fc\.toml:\d+:\d+", out)
        if code == "timeout" or "panicked" in out or (code != 0 and not where) or code not in (0, 1):
            findings.append((f"check gave {code}", done, out[-400:], text))
            print("FINDING", code, done, out[-300:], flush=True)
        accepted = code == 0
        counts["accepted" if accepted else "refused"] += 1
        if accepted and rnd.random() < 0.05:
            # What only a start reads (listeners, workers, the disk tier): the main proxy
            # steps aside for a process of its own on this file, then comes back.
            counts["alone"] += 1
            shutil.copy(conf_path, f"{DIR}/alone.toml")
            if stop(proxy):
                break
            if start_alone(rnd, binary, f"{DIR}/alone.toml", f"{DIR}/alone.log"):
                findings.append(("a start panicked", done, open(f"{DIR}/alone.log").read()[-400:], text))
                print("FINDING alone", done, flush=True)
            proxy = Proxy(binary, "config", base_text, PORT)
            continue
        status, said = reload()
        if (status == 200) != accepted:
            findings.append((f"reload said {status} where check said {code}", done, said[-300:], text))
            print("DISAGREE", status, code, done, said[-200:].strip(), out[-200:].strip(), flush=True)
        if status == 200:
            for call in probe(rnd, PORT, TLS_PORT, ADMIN):
                findings.append(("the admin API answered a 5xx", done, call, text))
                print("ADMIN", call, flush=True)
            busy = idle_cpu(proxy.proc.pid)
            if busy > 0.5:  # a loop that spins (a period of zero) shows as CPU with no traffic
                findings.append((f"busy while idle: {busy:.0%} of a core", done, "", text))
                print("BUSY", f"{busy:.0%}", done, flush=True)
            refused = redis_refusals(proxy)
            if refused:  # the Redis here is up: an error answer means a command it cannot take
                findings.append(("Redis refused a command", done, refused, text))
                print("REDIS", done, refused[:200], flush=True)
        with open(conf_path, "w") as f:
            f.write(base_text)
        status, said = reload()
        if status != 200 or not serves(PORT):
            findings.append(("no way back to the first config", done, said[-300:], text))
            print("STUCK", status, done, said[-200:], flush=True)
            break
    print(json.dumps(counts))
    for what, done, said, text in findings[:20]:
        print(f"--- {what}: {done}\n{said}")
    failed = proxy.finish(f"{counts['checked']} configs")
    return 1 if failed or findings else 0


if __name__ == "__main__":
    sys.exit(main())
