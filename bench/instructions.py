#!/usr/bin/env python3
"""Instructions per request of Forecourt builds, counted by valgrind's callgrind.

On a small, noisy machine CPU time per request moves by several percent from run to run;
the instructions a build executes for the same requests do not (callgrind counts them,
whatever else the machine does). This starts each build under callgrind with counting
off, warms it up, counts exactly N requests of the harness's `small` kind (h2load over
HTTP/1.1 keep-alive, or a new connection per request with --close) against the harness's
origin, and prints instructions per request and the ratio to the first build.

    bench/instructions.py --requests 20000 \
        before='/tmp/forecourt-old proxy --from {listen} --to http://{upstream} --workers 1' \
        after='target/release/forecourt proxy --from {listen} --to http://{upstream} --workers 1'

Needs valgrind and h2load (apt-get install -y valgrind nghttp2-client); the origin is the
harness's (built by ../shared/bench/proxybench.py, or $ORIGIN_BIN).
"""
import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import tempfile
import time

ORIGIN_PORT, PROXY_PORT = 19100, 18180


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def load(n, conns, close):
    cmd = ["h2load", "--h1", "-n", str(n), "-c", str(conns), f"http://127.0.0.1:{PROXY_PORT}/"]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not done or int(done.group(2)) != n:
        raise RuntimeError("h2load did not get every answer:\n" + out[-1500:])


def count(name, command, args, work):
    out = os.path.join(work, f"{name}.callgrind")
    argv = shlex.split(command.format(listen=f"127.0.0.1:{PROXY_PORT}", upstream=f"127.0.0.1:{ORIGIN_PORT}"))
    sim = ["--cache-sim=yes"] if args.cache_sim else []
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"] + sim + argv,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_port(PROXY_PORT):
            raise RuntimeError(f"{name} did not listen")
        load(args.warmup, args.conns, args.close)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        load(args.requests, args.conns, args.close)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        while wait_port(PROXY_PORT, 0.2):
            time.sleep(0.2)
    # Each event callgrind counted (Ir alone, or with --cache-sim the simulated cache's
    # misses too), summed over the output files of every thread.
    totals = {}
    for path in [p for p in os.listdir(work) if p.startswith(f"{name}.callgrind")]:
        text = open(os.path.join(work, path)).read()
        events = re.search(r"^events: (.+)$", text, re.M)
        values = re.search(r"^totals: (.+)$", text, re.M)
        if events and values:
            for event, value in zip(events.group(1).split(), values.group(1).split()):
                totals[event] = totals.get(event, 0) + int(value)
    return {event: value / args.requests for event, value in totals.items()}


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--close", action="store_true", help="a new connection per request")
    ap.add_argument("--cache-sim", action="store_true",
                    help="also simulate the caches: first-level instruction and data misses (I1mr, D1mr, D1mw) "
                         "and last-level misses (ILmr, DLmr, DLmw) per request")
    ap.add_argument("builds", nargs="+", metavar="NAME=COMMAND")
    args = ap.parse_args()
    origin_bin = os.environ.get("ORIGIN_BIN", os.path.join(tempfile.gettempdir(), "proxybench-origin", "release", "origin"))
    origin = subprocess.Popen([origin_bin, f"127.0.0.1:{ORIGIN_PORT}", "13", "1"], start_new_session=True)
    work = tempfile.mkdtemp(prefix="instructions-")
    try:
        assert wait_port(ORIGIN_PORT), "origin did not start"
        results = []
        for entry in args.builds:
            name, _, command = entry.partition("=")
            events = count(name, command, args, work)
            results.append((name, events))
            print(f"{name:10s} {events['Ir']:10.0f} instructions/request", flush=True)
        base = results[0][1]
        print()
        for name, events in results:
            print(f"{name:10s} {events['Ir']:10.0f} instructions/request  ({events['Ir'] / base['Ir']:.3f}x {results[0][0]})")
        if args.cache_sim:
            names = [e for e in base if e not in ("Ir", "Dr", "Dw")]
            print()
            print(f"{'misses per request':18s}" + "".join(f"{e:>10s}" for e in names))
            for name, events in results:
                print(f"{name:18s}" + "".join(f"{events.get(e, 0):10.1f}" for e in names))
    finally:
        os.killpg(origin.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
