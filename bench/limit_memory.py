#!/usr/bin/env python3
"""Memory of a rate limit under many distinct clients: one million IPv6 sources (each its
own /64, given in X-Forwarded-For from a trusted 127.0.0.1), one request each, through a
per-IP limit; Forecourt's resident memory before and after, and the keys it tracks then
and two periods later (a key is dropped once its bucket is full again). The limit is
2/min (a 30 s period), so that every key outlives the run.

usage: bench/limit_memory.py [--clients 1000000]     (needs wrk; run from the repo root)
"""
import argparse, os, re, signal, subprocess, tempfile, time, urllib.request

from ports import wait_port

PROXY, ADMIN = 18300, 18301

LUA = """
local n = 0
local total = %d
request = function()
  n = n + 1
  if n > total then n = total end
  return wrk.format("GET", "/", {["X-Forwarded-For"] = string.format("2001:db8:%%x:%%x::1", math.floor(n / 65536), n %% 65536)})
end
"""


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def keys():
    text = urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/metrics").read().decode()
    m = re.search(r'^forecourt_limit_keys\{limit="per_ip"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1_000_000)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="limit-memory-")
    conf = f"""[global]\nworkers = 1\nadmin = "127.0.0.1:{ADMIN}"\naccess_log = "off"\ntrusted_proxies = ["127.0.0.1"]\n
[limits.per_ip]\nrate = "2/min"\n
[[listen]]\naddr = "127.0.0.1:{PROXY}"\n[[route]]\nrespond = {{ status = 200, body = "ok" }}\nlimits = ["per_ip"]\n"""
    open(f"{work}/forecourt.toml", "w").write(conf)
    open(f"{work}/clients.lua", "w").write(LUA % args.clients)
    proc = subprocess.Popen(["target/release/forecourt", "run", "-c", f"{work}/forecourt.toml"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(PROXY)
        time.sleep(0.5)
        base = rss_kib(proc.pid)
        started = time.time()
        # One thread, so that the Lua counter gives each request a new client.
        wrk = subprocess.Popen(["wrk", "-t1", "-c32", "-d600s", "-s", f"{work}/clients.lua", f"http://127.0.0.1:{PROXY}/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Until the keys stop growing (every client has come; each key lives one period,
        # 30 s, longer than the run).
        peak, last_growth = 0, time.time()
        while time.time() - last_growth < 2 and time.time() - started < 120:
            time.sleep(0.5)
            now = keys()
            if now > peak:
                peak, last_growth = now, time.time()
        wrk.terminate()
        wrk.wait()
        full = rss_kib(proc.pid)
        print(f"{peak} keys tracked after {time.time() - started:.0f} s: RSS {base / 1024:.1f} -> {full / 1024:.1f} MiB "
              f"(+{(full - base) / 1024:.1f} MiB, {(full - base) * 1024 / max(peak, 1):.0f} bytes per key)", flush=True)
        time.sleep(62)  # two periods of the limit
        print(f"two periods later: {keys()} keys, RSS {rss_kib(proc.pid) / 1024:.1f} MiB")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


if __name__ == "__main__":
    main()
