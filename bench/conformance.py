#!/usr/bin/env python3
"""RFC 9111 conformance side by side: the HTTP caching tests (http-tests/cache-tests, on
npm as `http-cache-tests`) run against each candidate in front of the suite's own origin.

    bench/conformance.py ours nginx varnish
    bench/conformance.py --id stale-close ours        # one test, with the suite's dump

The suite is fetched with npm into --suite (not into this repository: none of its code is
committed), its origin started on 127.0.0.1:19300, and each candidate in turn on
127.0.0.1:18380 with every path cached as it ships: Forecourt `cache = true`, nginx
`proxy_cache` with a keys_zone, Varnish with its default VCL. The suite's command line
(`cli.mjs`, as its published results are made) runs every test, its Surrogate-Control file
included; the results are counted by the suite's own rules (`lib/display.mjs`): a test
whose dependency did not pass is not run; `required` and `optimal` tests pass or fail,
`check` tests say yes or no. Every result file is kept under --out.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

from ports import stop_group, wait_closed, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
FORECOURT = os.environ.get("FORECOURT", os.path.join(HERE, "..", "target", "release", "forecourt"))
ORIGIN, PROXY = 19300, 18380

# Counts results by the suite's rules (its lib/display.mjs needs a browser; this is the
# same determineTestResult, run by node against the installed tests).
SUMMARY_JS = r"""
import fs from 'fs'
import tests from './tests/index.mjs'
import surrogate from './tests/surrogate-control.mjs'
if (!tests.some(s => s.id === surrogate.id)) tests.push(surrogate)
const results = JSON.parse(fs.readFileSync(process.argv[2]))
const byId = {}
for (const suite of tests) for (const t of suite.tests) byId[t.id] = t
const passing = ['pass', 'yes']
const memo = {}
function outcome (id) {
  if (id in memo) return memo[id]
  const test = byId[id]
  const r = results[id]
  let out
  if (r === undefined) out = 'untested'
  for (const dep of (out ? [] : test.depends_on || [])) {
    if (!passing.includes(outcome(dep))) { out = 'dependency_fail'; break }
  }
  if (!out) {
    if (r[0] === 'Setup') out = r[1] === 'retry' ? 'retry' : 'setup_fail'
    else if (r === false) out = 'harness_fail'
    else if (test.kind === 'check') out = r === true ? 'yes' : 'no'
    else if (test.kind === 'optimal') out = r === true ? 'pass' : 'optional_fail'
    else out = r === true ? 'pass' : 'fail'
  }
  memo[id] = out
  return out
}
const rows = Object.keys(byId).map(id => [id, byId[id].kind || 'required', outcome(id),
  Array.isArray(results[id]) ? results[id][1] : ''])
console.log(JSON.stringify(rows))
"""


def install(suite, version):
    """The suite, from npm, into `suite` (kept between runs)."""
    if os.path.exists(os.path.join(suite, "node_modules")):
        return
    os.makedirs(suite, exist_ok=True)
    tmp = tempfile.mkdtemp()
    subprocess.run(["npm", "pack", "--silent", f"http-cache-tests@{version}"], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL)
    tarball = next(f for f in os.listdir(tmp) if f.endswith(".tgz"))
    subprocess.run(["tar", "xzf", tarball, "--strip-components=1", "-C", suite], cwd=tmp, check=True)
    subprocess.run(["npm", "install", "--silent", "--omit=dev", "--no-audit", "--no-fund"], cwd=suite, check=True)
    shutil.rmtree(tmp)


def suite_env(suite, base="", test_id=""):
    env = dict(os.environ)
    env.update({"npm_config_protocol": "http", "npm_config_port": str(ORIGIN),
                "npm_config_pidfile": os.path.join(suite, "server.pid"), "npm_config_base": base,
                "npm_package_config_base": base, "npm_config_id": test_id, "npm_package_config_id": test_id})
    return env


def candidate(name, d):
    """The command that starts `name`, caching every path, in folder `d`."""
    if name == "ours":
        open(f"{d}/forecourt.toml", "w").write(f"""[global]
workers = 1
admin = "off"
access_log = "off"
[[listen]]
addr = "127.0.0.1:{PROXY}"
[[route]]
upstream = "origin"
cache = true
[upstream.origin]
servers = ["127.0.0.1:{ORIGIN}"]
""")
        return [FORECOURT, "run", "-c", f"{d}/forecourt.toml"]
    if name == "nginx":
        open(f"{d}/nginx.conf", "w").write(f"""worker_processes 1; pid {d}/nginx.pid; daemon off;
error_log {d}/error.log error;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=c:10m;
  server {{ listen 127.0.0.1:{PROXY};
    location / {{ proxy_pass http://127.0.0.1:{ORIGIN}; proxy_cache c; }} }} }}
""")
        return ["nginx", "-c", f"{d}/nginx.conf", "-p", d]
    if name == "varnish":
        return ["varnishd", "-F", "-j", "none", "-n", f"{d}/varnish", "-a", f"127.0.0.1:{PROXY}",
                "-b", f"127.0.0.1:{ORIGIN}", "-s", "malloc,64m"]
    raise SystemExit(f"unknown candidate {name}")


def run_one(args, name, work):
    d = os.path.join(work, name)
    os.makedirs(d)
    proxy = subprocess.Popen(candidate(name, d), stdout=open(f"{d}/out.log", "w"), stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        wait_port(PROXY)
        base = f"http://127.0.0.1:{PROXY}"
        cli = subprocess.run(["node", "--no-warnings", "cli.mjs"], cwd=args.suite, env=suite_env(args.suite, base, args.id),
                             capture_output=True, text=True, timeout=1800)
    finally:
        stop_group(proxy)
        wait_closed(PROXY)
    if args.id:
        print(cli.stdout)
        return None
    out = os.path.join(args.out, f"{name}.json")
    open(out, "w").write(cli.stdout)
    summary = os.path.join(args.suite, "forecourt-summary.mjs")
    open(summary, "w").write(SUMMARY_JS)
    rows = json.loads(subprocess.run(["node", summary, out], cwd=args.suite, capture_output=True, text=True,
                                     check=True).stdout)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+", choices=["ours", "nginx", "varnish"])
    ap.add_argument("--suite", default=os.path.join(tempfile.gettempdir(), "http-cache-tests"))
    ap.add_argument("--version", default="0.4.5", help="of the npm package http-cache-tests")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "conformance-results"))
    ap.add_argument("--id", default="", help="run this one test and print the suite's dump")
    args = ap.parse_args()
    install(args.suite, args.version)
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="conformance-")
    os.chmod(work, 0o755)  # nginx's workers (www-data) write its cache under it
    origin = subprocess.Popen(["node", "server/server.mjs"], cwd=args.suite, env=suite_env(args.suite),
                              stdout=open(f"{work}/origin.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(ORIGIN)
        table = {}
        for name in args.candidates:
            rows = run_one(args, name, work)
            if rows is not None:
                table[name] = rows
    finally:
        stop_group(origin)
    if not table:
        return
    kinds = ["pass", "fail", "yes", "no", "optional_fail", "dependency_fail", "setup_fail", "retry", "untested"]
    print(f"{len(next(iter(table.values())))} tests (http-cache-tests {args.version}); results in {args.out}")
    print("| | passed (required + optimal) | required failed | check yes | check no | optional failed "
          "| dependency failed | setup failed |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in table.items():
        count = {k: sum(1 for r in rows if r[2] == k) for k in kinds}
        req = sum(1 for r in rows if r[2] == "pass" and r[1] == "required")
        print(f"| {name} | {count['pass']} ({req} + {count['pass'] - req}) | {count['fail']} | {count['yes']} "
              f"| {count['no']} | {count['optional_fail']} | {count['dependency_fail']} "
              f"| {count['setup_fail'] + count['retry']} |")
    for name, rows in table.items():
        print(f"\n{name}: required failed, optional failed")
        for test_id, kind, outcome, why in rows:
            if outcome in ("fail", "optional_fail"):
                print(f"  {outcome:13} {test_id}: {why}")


if __name__ == "__main__":
    sys.exit(main())
