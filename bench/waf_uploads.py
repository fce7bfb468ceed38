#!/usr/bin/env python3
"""What a photo upload costs the WAF, side by side with nginx + ModSecurity (Debian's
libnginx-mod-http-modsecurity, libmodsecurity 3.0.9): bench/waf_replay.py's servers (the
same origin, both engines in blocking mode with the same CRS and paranoia level, each as
shipped), one request at a time, the median of `--runs`.

    bench/waf_uploads.py --crs 3 --pl 1 --sizes 1,3,8,12

Each request is a browser's multipart/form-data POST: a `title` field, a file of SIZE MiB
of random bytes (as a JPEG's look), an `album` field. Prints each engine's status and time.

    bench/waf_uploads.py --sizes 10 --concurrent 12

sends that many at once to each engine instead, and prints their statuses, the slowest
answer and the engine's peak resident memory (its processes', sampled every 10 ms).

    bench/waf_uploads.py --sizes 5 --beside

measures what uploads cost the engine's other requests: small GETs (wrk, 8 connections,
8 s) alone, then while uploads of SIZE are sent one after another; prints the GETs'
requests/s, median and p99, and how many uploads went through meanwhile.
"""
import argparse, collections, importlib.util, os, re, shutil, subprocess, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("waf_replay", os.path.join(HERE, "waf_replay.py"))
wr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wr)
BOUNDARY = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def upload(size):
    fields = lambda name, value: (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name +
                                  b'"\r\n\r\n' + value + b"\r\n")
    body = (fields(b"title", b"Holiday photo") + b"--" + BOUNDARY +
            b'\r\nContent-Disposition: form-data; name="photo"; filename="IMG_2041.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0" + os.urandom(size) + b"\r\n" +
            fields(b"album", b"Summer 2026") + b"--" + BOUNDARY + b"--\r\n")
    head = ("POST /upload HTTP/1.1\r\nHost: shop.example\r\n"
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36\r\n"
            "Accept: text/html\r\nAccept-Language: en-GB,en;q=0.8\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


def timed(port, request):
    """The status (bench/waf_replay.py's reading of it), and the milliseconds it took."""
    started = time.time()
    answered = wr.status(port, request, timeout=120)
    return answered, (time.time() - started) * 1000


def resident_kib(pgid):
    """The resident memory of the processes in group `pgid` (a server and its workers)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            total += next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def at_once(port, pgid, request, n):
    """`n` copies of `request` at once: their statuses, the slowest in ms, the peak RSS in MiB."""
    results, peak, done = [], [resident_kib(pgid)], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], resident_kib(pgid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    senders = [threading.Thread(target=lambda: results.append(timed(port, request))) for _ in range(n)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    done.set()
    sampler.join()
    statuses = collections.Counter(status for status, _ in results)
    return dict(statuses), max(ms for _, ms in results), peak[0] / 1024


def gets(port):
    """Small GETs through `port` (wrk): requests/s, median and p99."""
    out = subprocess.run(["wrk", "-t1", "-c8", "-d8s", "--latency", "-H", "User-Agent: Mozilla/5.0 Firefox/120",
                          "-H", "Accept: text/html", f"http://127.0.0.1:{port}/search?q=shoes&page=2"],
                         capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+(\S+)", out).group(1))
    return f"{rps:8.1f} rps  median {latency.get('50'):>9}  p99 {latency.get('99'):>9}"


def beside(port, request):
    """GETs while `request` is sent over and over: their figures and the uploads sent."""
    done, sent = threading.Event(), [0]

    def uploads():
        while not done.is_set():
            timed(port, request)
            sent[0] += 1

    sender = threading.Thread(target=uploads)
    sender.start()
    try:
        return gets(port), sent[0]
    finally:
        done.set()
        sender.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crs", choices=["3", "4"], default="3")
    ap.add_argument("--pl", type=int, choices=[1, 2, 3, 4], default=1)
    ap.add_argument("--sizes", default="1,3,8,12", help="file sizes in MiB, comma-separated")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrent", type=int, default=0, help="send this many at once instead")
    ap.add_argument("--beside", action="store_true", help="small GETs' latency while uploads are judged")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="wafuploads-")
    os.chmod(work, 0o755)  # nginx's workers (www-data) read the rules written there
    procs = wr.start(work, args.crs, args.pl)
    try:
        for mib in [int(s) for s in args.sizes.split(",")]:
            request = upload(mib << 20)
            engines = ((wr.MODSEC, "nginx + ModSecurity", procs[1]), (wr.OURS, "Forecourt", procs[2]))
            for port, name, _ in engines if args.beside else ():
                print(f"GETs through {name:20} alone:                  {gets(port)}", flush=True)
                figures, sent = beside(port, request)
                print(f"GETs through {name:20} beside {mib} MiB uploads: {figures}  ({sent} uploads)", flush=True)
            if args.beside:
                continue
            for port, name, proc in engines if args.concurrent else ():
                statuses, slowest, peak = at_once(port, proc.pid, request, args.concurrent)
                print(f"{mib:>3} MiB x{args.concurrent}  {name:20} {statuses}  slowest {slowest:7.1f} ms"
                      f"  peak RSS {peak:6.1f} MiB", flush=True)
            for port, name, _ in () if args.concurrent else engines:
                runs = [timed(port, request) for _ in range(args.runs)]
                median = sorted(ms for _, ms in runs)[len(runs) // 2]
                print(f"{mib:>3} MiB  {name:20} {runs[0][0]}  median {median:7.1f} ms", flush=True)
    finally:
        wr.stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
