#!/usr/bin/env python3
"""Run CRS's own regression tests through Forecourt's WAF and through nginx + ModSecurity
(Debian's libnginx-mod-http-modsecurity, libmodsecurity 3.0.9), and count, for each engine,
the tests whose rule expectations hold.

    # CRS 3.3.4's tests are in Debian's source package (a deb-src line is needed):
    apt-get source --download-only modsecurity-crs && tar xzf modsecurity-crs_3.3.4.orig.tar.gz
    bench/waf_crs_tests.py coreruleset-3.3.4/tests/regression/tests
    bench/waf_crs_tests.py --only 942 --show all coreruleset-3.3.4/tests/regression/tests
    bench/waf_crs_tests.py --export crates/forecourt/tests/data/crs-3.3.4-tests/regression.jsonl \
        coreruleset-3.3.4/tests/regression/tests   # what the test edge/waf_crs_suite.rs reads

The tests are the corpus CRS's maintainers check each rule with (FTW's YAML: about 2,400
requests, each naming a rule that must, or must not, appear in the log). They are set up as
the suite's README asks: both engines in detection mode at paranoia level 4, UTF-8
validation on, argument limits of 100 and 400 (its SecAction 900005, read by both after
crs-setup.conf). Each request is sent as FTW builds it (`ftw_request`: its defaults for a
body's Content-Type and Content-Length, its re-encoding of a form it finds unencoded);
between two tests a marker request tells where one test's log ends. What an engine
"logged" is the rule ids it reported for the request: ModSecurity's error-log messages,
Forecourt's access-log `waf_rules` (its rules with a severity: CRS's detections). A
test's `log_contains` / `no_log_contains` are matched against `[id "…"]` lines of those
ids. Tests that check only a status (the web server's own 400s) are counted apart.
Needs PyYAML (Debian's python3-yaml).
"""
import argparse, base64, collections, glob, importlib.util, json, os, re, shutil, socket, tempfile, time
from urllib.parse import parse_qsl, unquote, urlencode

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("waf_replay", os.path.join(HERE, "waf_replay.py"))
replay = importlib.util.module_from_spec(spec)
spec.loader.exec_module(replay)

# The suite's own setup (its README), and the marker rule that delimits a test in the log.
SETUP = """SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,ctl:ruleRemoveById=910000,\\
setvar:tx.paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,\\
setvar:tx.arg_length=400"
SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" "id:999999,phase:1,log,pass,t:none,msg:'marker %{MATCHED_VAR}'"
"""
MARKER_PATH = "/crs-test-marker/"
# The body-error rules of Debian's modsecurity.conf (Forecourt's policy has them too): no
# severity, so Forecourt's access log names them only when they refuse, which detection
# never does. Left out of the comparison of ids; waf_replay.py compares their decisions.
MODSECURITY_CONF = {"200002", "200003", "200004"}


def ftw_request(stage):
    """The bytes FTW 1.x sends for a stage's input (ftw/ruleset.py Input, ftw/http.py
    build_request): its quirks kept, since they define what the tests send."""
    if "encoded_request" in stage:
        return base64.b64decode(stage["encoded_request"])
    if "raw_request" in stage:
        return stage["raw_request"].encode("utf-8", "surrogateescape")
    headers = {str(k): str(v) for k, v in (stage.get("headers") or {}).items()}
    data = stage.get("data", "") or ""
    if isinstance(data, list):
        data = "\r\n".join(data)
    magic = not stage.get("stop_magic", False)
    if data != "":
        if "Content-Type" not in headers and magic:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if headers.get("Content-Type") == "application/x-www-form-urlencoded" and magic:
            if unquote(data) == data:
                pairs = parse_qsl(data)
                if pairs:
                    data = urlencode(pairs)
        if "Content-Length" not in headers and magic:
            headers["Content-Length"] = str(len(data))  # characters, as FTW counts
    head = f"{stage.get('method', 'GET')} {stage.get('uri', '/')} {stage.get('version', 'HTTP/1.1')}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n" + data).encode("utf-8", "surrogateescape")


def marker(n):
    return (f"GET {MARKER_PATH}{n} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: CRS regression marker\r\n"
            f"Accept: */*\r\nX-CRS-Test: crs-test-{n}\r\nConnection: close\r\n\r\n").encode()


def exchange(port, request, wait=3.0):
    """Sends the request and reads one whole response (by its Content-Length or chunks), or
    until the server closes, or `wait` seconds of silence."""
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.settimeout(wait)
            s.sendall(request)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
                head, sep, body = got.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if request.startswith(b"HEAD ") or (length and len(body) >= int(length.group(1))):
                    return
                if re.search(rb"(?im)^transfer-encoding:.*chunked", head) and body.endswith(b"0\r\n\r\n"):
                    return
    except OSError:
        pass


def load_tests(folder, only):
    tests = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.yaml"), recursive=True)):
        doc = yaml.safe_load(open(path, encoding="utf-8", errors="surrogateescape"))
        if not doc or not doc.get("meta", {}).get("enabled", True):
            continue
        family = os.path.basename(os.path.dirname(path))
        if only and not os.path.basename(path).startswith(only):
            continue
        for test in doc.get("tests") or []:
            for stage in test["stages"]:
                stage = stage["stage"]
                out = stage.get("output") or {}
                tests.append({"title": test["test_title"], "family": family, "input": stage["input"],
                              "contains": out.get("log_contains"), "absent": out.get("no_log_contains")})
    return tests


def modsec_logged(work, count):
    """The rule ids ModSecurity's error log gives between marker n and marker n+1."""
    text = open(f"{work}/modsec/error.log", errors="replace").read()
    found = {}
    current = None
    for line in text.splitlines():
        m = re.search(r"marker crs-test-(\d+)", line)
        if m:
            current = int(m.group(1))
            continue
        if current is not None and current < count:
            found.setdefault(current, set()).update(re.findall(r'\[id "(\d+)"\]', line))
    return found


def ours_logged(work, count):
    """The rule ids Forecourt's access log gives for the requests after marker n."""
    found = {}
    current = None
    for line in open(f"{work}/ours/access.log", errors="replace"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        path = str(record.get("path", ""))
        if path.startswith(MARKER_PATH):
            current = int(path[len(MARKER_PATH):])
            continue
        if current is not None and current < count and record.get("waf_rules"):
            found.setdefault(current, set()).update(str(record["waf_rules"]).split(","))
    return found


def holds(test, ids):
    log = "\n".join(f'[id "{i}"]' for i in sorted(ids))
    if test["contains"] and not re.search(test["contains"], log):
        return False
    if test["absent"] and re.search(test["absent"], log):
        return False
    return True


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--crs", choices=["3"], default="3", help="the ruleset the tests are for")
    ap.add_argument("--only", default="", help="rule files whose name begins so (942, 9421)")
    ap.add_argument("--show", choices=["none", "differences", "all"], default="differences")
    ap.add_argument("--export", metavar="FILE", help="write the requests and expectations as JSON Lines"
                    " (crates/forecourt/tests/data/crs-3.3.4-tests/regression.jsonl), run nothing")
    ap.add_argument("tests")
    args = ap.parse_args()
    tests = load_tests(args.tests, args.only)
    checked = [t for t in tests if t["contains"] or t["absent"]]
    if args.export:
        with open(args.export, "w") as out:
            for test in checked:
                request = base64.b64encode(ftw_request(test["input"])).decode()
                record = {"title": test["title"], "request": request, "contains": test["contains"],
                          "absent": test["absent"]}
                out.write(json.dumps(record) + "\n")
        return
    work = tempfile.mkdtemp(prefix="wafcrstests-")
    os.chmod(work, 0o755)
    setup = f"{work}/crs-tests-setup.conf"
    open(setup, "w").write(SETUP)
    os.chmod(setup, 0o644)
    procs = replay.start(work, args.crs, 4, detect=True, setup=setup)
    try:
        for port in (replay.MODSEC, replay.OURS):
            for n, test in enumerate(checked):
                exchange(port, marker(n))
                exchange(port, ftw_request(test["input"]))
            exchange(port, marker(len(checked)))
        time.sleep(1)
        theirs, ours = modsec_logged(work, len(checked)), ours_logged(work, len(checked))
    finally:
        replay.stop(procs)
        shutil.rmtree(work, ignore_errors=True)
    by_family = collections.defaultdict(lambda: [0, 0, 0])
    same_ids = 0
    for n, test in enumerate(checked):
        a, b = holds(test, theirs.get(n, set())), holds(test, ours.get(n, set()))
        same_ids += theirs.get(n, set()) - MODSECURITY_CONF == ours.get(n, set())
        row = by_family[test["family"]]
        row[0] += a
        row[1] += b
        row[2] += 1
        if args.show == "all" or (args.show == "differences" and a != b):
            expect = test["contains"] or f"not {test['absent']}"
            print(f"{test['title']:16s} modsec={'pass' if a else 'FAIL'} ours={'pass' if b else 'FAIL'}  "
                  f"expects {expect}  [modsec: {','.join(sorted(theirs.get(n, set())))}] "
                  f"[ours: {','.join(sorted(ours.get(n, set())))}]")
    print(f"\nCRS {args.crs} regression tests, PL4, detection: {len(checked)} with rule expectations"
          f" ({len(tests) - len(checked)} check only a status, not run)")
    print(f"{'family':40s} {'ModSecurity':>12s} {'Forecourt':>12s} {'of':>6s}")
    total = [0, 0, 0]
    for family, row in sorted(by_family.items()):
        print(f"{family:40s} {row[0]:12d} {row[1]:12d} {row[2]:6d}")
        total = [x + y for x, y in zip(total, row)]
    print(f"{'all':40s} {total[0]:12d} {total[1]:12d} {total[2]:6d}")
    print(f"the same rule ids logged by both: {same_ids} of {len(checked)} tests")


if __name__ == "__main__":
    main()
