#!/usr/bin/env python3
"""Ordinary requests through nginx + ModSecurity and Forecourt (bench/waf_replay.py's servers,
both engines blocking with the same CRS) while each server runs under a CPU limit, as a
container's (`--quota 250` is Kubernetes' `cpu: 250m`: the kernel stops the server's
processes for the rest of each 100 ms period once they have used 25 ms of it). Prints each
engine's statuses and median time per kind of request, and how many of Forecourt's
inspections ran over `inspection_budget`.

    bench/waf_throttled.py --quota 250
    FORECOURT=/tmp/forecourt-old bench/waf_throttled.py --quota 250    # another build

The limit is a cgroup of each server's own (cgroup v2's `cpu.max`, or v1's
`cpu.cfs_quota_us`), made for the run and removed after it; root only. `--quota 0`
runs without one.
"""
import argparse, collections, importlib.util, json, os, shutil, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
load = lambda name: importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
wr, wu = (importlib.util.module_from_spec(load(n)) for n in ("waf_replay", "waf_uploads"))
load("waf_replay").loader.exec_module(wr)
load("waf_uploads").loader.exec_module(wu)


def limited(name, pgid, millicores):
    """Puts the processes of group `pgid` (a server and its workers, each with all its
    threads) in a new cgroup allowed `millicores` per 100 ms period; returns its folder."""
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    folder = f"/sys/fs/cgroup/{name}" if v2 else f"/sys/fs/cgroup/cpu/{name}"
    os.makedirs(folder, exist_ok=True)
    quota = millicores * 100
    if v2:
        open(f"{folder}/cpu.max", "w").write(f"{quota} 100000")
    else:
        open(f"{folder}/cpu.cfs_period_us", "w").write("100000")
        open(f"{folder}/cpu.cfs_quota_us", "w").write(str(quota))
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) == pgid:
                open(f"{folder}/cgroup.procs", "w").write(pid)
        except OSError:
            pass  # gone meanwhile
    return folder


def requests():
    """What a shop or a blog receives: a search, a form, a long post as JSON, a photo."""
    def case(method, path, body="", content_type=None):
        headers = wr.BROWSER + ([["Content-Type", content_type]] if content_type else [])
        return wr.raw_request({"method": method, "path": path, "body": body, "headers": headers})
    words = "the quick brown fox jumps over a lazy dog near the old farm and runs away".split()
    post = json.dumps({"title": "A long post", "tags": ["blog"],
                       "body": " ".join(words[(i * 7) % len(words)] for i in range(27_000))})  # within ModSecurity's 128 KiB
    return {
        "GET, 10 arguments": case("GET", "/search?" + "&".join(f"a{i}=word{i}" for i in range(10))),
        "form, 1 KiB": case("POST", "/form", "&".join(f"field{i}=value+{i}+of+the+form" for i in range(30)),
                            "application/x-www-form-urlencoded"),
        f"JSON post, {len(post) >> 10} KiB": case("POST", "/api/posts", post, "application/json"),
        "photo upload, 5 MiB": wu.upload(5 << 20),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crs", choices=["3", "4"], default="3")
    ap.add_argument("--pl", type=int, choices=[1, 2, 3, 4], default=1)
    ap.add_argument("--quota", type=int, default=250, help="millicores each server may use (0: no limit)")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="wafthrottled-")
    os.chmod(work, 0o755)  # nginx's workers (www-data) read the rules written there
    procs = wr.start(work, args.crs, args.pl)
    groups = []
    try:
        if args.quota:
            groups = [limited(f"forecourt-bench-{i}", p.pid, args.quota) for i, p in enumerate(procs[1:])]
        for name, request in requests().items():
            for port, engine in ((wr.MODSEC, "nginx + ModSecurity"), (wr.OURS, "Forecourt")):
                runs = [wu.timed(port, request) for _ in range(args.runs)]
                median = sorted(ms for _, ms in runs)[len(runs) // 2]
                statuses = dict(collections.Counter(status for status, _ in runs))
                print(f"{name:22} {engine:20} {statuses}  median {median:7.1f} ms", flush=True)
    finally:
        wr.stop(procs)
        for folder in groups:
            try:
                os.rmdir(folder)
            except OSError as e:
                print(f"{folder} is left: {e}")
    over = sum('"over_budget' in line for line in open(f"{work}/ours/access.log"))
    print(f"Forecourt's inspections over budget: {over}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
