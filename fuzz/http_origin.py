#!/usr/bin/env python3
"""What an origin sends back, fuzzed: ordinary requests from eight clients through the
routes of `harness.routes` (the cache, the WAF, compression, both, none) to an origin
whose every response is mutated (framing fields doubled, lying or overflowed; chunk sizes
broken; freshness, validators, Vary, Content-Range and Content-Encoding odd; interim 1xx
answers; bytes after the response; the connection cut mid-body or the answer trickled).
The proxy must stay up, and afterwards answer each of a run of requests with its own
response, never one left behind on a pooled connection by the fuzzing (a response
desync).

    fuzz/http_origin.py target/debug/forecourt 600      # seconds; SEED=n for another run
    CLIENT=h2 fuzz/http_origin.py target/debug/forecourt 600   # the clients speak HTTP/2

With `CLIENT=h2` each batch of requests goes over one prior-knowledge HTTP/2 connection,
multiplexed, by `nghttp` (Debian's nghttp2-client; one method and header set per batch),
so that the broken answers reach HTTP/2's writer (hyper's server) instead of HTTP/1's.
(curl 7.88 cannot reuse a prior-knowledge connection: its second request on it fails
with "Error in the HTTP2 framing layer", against nginx as against Forecourt.)
"""
import itertools, os, random, subprocess, sys, threading, time

from harness import Proxy, exchange, listen, mutate, requests, routes

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 300
PORT, ORIGIN = 18994, 18995
BODY = b"<html>" + b"hello world " * 150 + b"</html>"


def response(head, body):
    return head.replace(b"{n}", str(len(body)).encode()) + b"\r\n\r\n" + body


SEEDS = [
    response(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: max-age=1\r\nETag: \"v1\"\r\n"
             b"Last-Modified: Sat, 05 Dec 2026 10:00:00 GMT\r\nContent-Length: {n}", BODY),
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: s-maxage=2, stale-while-revalidate=5\r\n"
    b"Transfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=3\r\nContent-Length: 10\r\n\r\n",
    response(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Type: text/html\r\n"
             b"Cache-Control: max-age=60\r\nContent-Length: {n}", b"0123456789"),
    response(b"HTTP/1.1 200 OK\r\nVary: Accept-Encoding, Cookie\r\nCache-Control: public, max-age=60\r\n"
             b"Content-Type: application/json\r\nCache-Tag: a,b\r\nSurrogate-Key: c d\r\nContent-Length: {n}",
             b"{\"a\": [1, 2, 3], \"text\": \"" + b"x" * 1500 + b"\"}"),
    response(b"HTTP/1.1 200 OK\r\nVary: *\r\nCDN-Cache-Control: max-age=100\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
             b"Age: 99999999999\r\nContent-Length: {n}", BODY),
    response(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/css\r\nCache-Control: max-age=60\r\n"
             b"Content-Length: {n}", b"\x1f\x8b\x08not gzip at all" + BODY[:200]),
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n7\r\ndata: 1\r\n7\r\ndata: 2\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nCache-Control: max-age=60\r\n\r\n" + BODY,
    b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    + response(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {n}", BODY),
    b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"HTTP/1.1 201 Created\r\nLocation: /c/a\r\n"
                                                b"Content-Location: http://a/c/b\r\nContent-Length: {n}", b"made"),
    response(b"HTTP/1.1 204 No Content\r\nCache-Control: max-age=60\r\nContent-Length: {n}", b"stray"),
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
    response(b"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nContent-Length: 7\r\nTransfer-Encoding: gzip, chunked\r\n"
             b"Set-Cookie: s=1\r\nCache-Control: private=\"Set-Cookie\", max-age=60", b"0\r\n\r\n"),
    response(b"HTTP/1.1 500 Internal Server Error\r\nCache-Control: max-age=60, stale-if-error=30\r\n"
             b"Content-Length: {n}", b"broken"),
    response(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60, no-cache=\"X-A\", must-revalidate, immutable\r\n"
             b"X-A: 1\r\nETag: W/\"w\"\r\nContent-Type: image/svg+xml\r\nContent-Length: {n}", b"<svg>" + b"a" * 2000 + b"</svg>"),
]
TOKENS = [b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b":", b",", b";", b"\"", b"\xff",
          b"Content-Length: 0\r\n", b"Content-Length: 99999999999999999999\r\n", b"Content-Length: -5\r\n",
          b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff\r\n", b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\n",
          b"Cache-Control: max-age=99999999999999999999\r\n", b"Vary: Accept-Encoding\r\n", b"Vary: \r\n",
          b"Content-Range: bytes 5-1/3\r\n", b"Content-Range: bytes */0\r\n", b"Age: -1\r\n",
          b"Expires: 0\r\n", b"ETag: \"\r\n", b"Content-Encoding: br\r\n", b"Content-Type: text/html\r\n",
          b"Cache-Tag: " + b"t," * 500 + b"\r\n", b"Connection: keep-alive, close\r\n", b"HTTP/1.1 100 Continue\r\n\r\n"]
sane = threading.Event()  # set: the origin answers every request plainly, naming its path


def target_of(head):
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return parts[1] if len(parts) > 1 else b"?"


connections = itertools.count()


def serve(conn):
    rnd = random.Random(int(os.environ.get("SEED", "1")) * 1_000_003 + next(connections))
    try:
        for head in requests(conn):
            if sane.is_set():
                body = b"answer for " + target_of(head)
                conn.sendall(response(b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: {n}", body))
                continue
            data = rnd.choice(SEEDS)
            if rnd.random() < 0.8:
                data = mutate(rnd, data, TOKENS, SEEDS)
            if rnd.random() < 0.1:  # bytes after the response: a desync if the connection were reused
                data += rnd.choice(SEEDS)[: rnd.randint(1, 80)]
            if rnd.random() < 0.1:  # cut off mid-answer
                conn.sendall(data[: rnd.randrange(len(data))])
                return
            if rnd.random() < 0.1:  # trickled
                for i in range(0, len(data), 97):
                    conn.sendall(data[i:i + 97])
                    time.sleep(0.002)
            else:
                conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


PATHS = [b"/c/%d" % i for i in range(6)] + [b"/cz/%d" % i for i in range(6)] + [b"/z/a", b"/w/a?q=1", b"/plain"]
HEADERS = [b"Accept-Encoding: gzip, br, zstd\r\n", b"Range: bytes=0-4\r\n", b"Range: bytes=-3\r\n",
           b"If-None-Match: \"v1\"\r\n", b"If-Modified-Since: Sat, 05 Dec 2026 10:00:00 GMT\r\n",
           b"Cache-Control: no-cache\r\n", b"Cache-Control: max-age=0\r\n", b"Cookie: a=1\r\n",
           b"Authorization: Basic YTpi\r\n"]


def request(rnd, last):
    """A request; the `last` on its connection asks for the connection to be closed."""
    method = rnd.choice([b"GET"] * 6 + [b"HEAD", b"POST", b"PUT", b"DELETE"])
    extra = b"".join(rnd.sample(HEADERS, rnd.randint(0, 3))) + (b"Connection: close\r\n" if last else b"")
    body = b"a=1" if method in (b"POST", b"PUT") else b""
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    return b"%s %s HTTP/1.1\r\nHost: a\r\n%s%s\r\n%s" % (method, rnd.choice(PATHS), extra, length, body)


def h2_batch(rnd, n):
    """`n` requests over one HTTP/2 connection by nghttp: the status of the first answered."""
    method = rnd.choice(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE"])
    args = ["nghttp", "-n", "-s", "-t", "2", "-H", f":method: {method}"]
    if method in ("POST", "PUT"):
        args += ["-d", "/etc/hostname"]
    for field in rnd.sample(HEADERS, rnd.randint(0, 3)):
        args += ["-H", field.decode().strip()]
    args += [f"http://127.0.0.1:{PORT}" + rnd.choice(PATHS).decode() for _ in range(n)]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    rows = out.split("request path\n", 1)[1].split("\n") if "request path\n" in out else []
    codes = [row.split()[4] for row in rows if len(row.split()) > 5]
    return codes[0] if codes else "none"


def answers_its_own(count):
    """`count` requests, each on its own connection, through each route: how many were
    not answered with their own path (a 502 counts as unanswered, not as a desync)."""
    wrong, failed = [], 0
    for i in range(count):
        for route in (b"/c/", b"/z/", b"/w/", b"/cz/", b"/"):
            target = b"%safter-%d" % (route, i)
            got = exchange(PORT, b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % target, timeout=2)
            if b"answer for " + target not in got:
                if got.startswith(b"HTTP/1.1 200"):
                    wrong.append((target, got[:200]))
                else:
                    failed += 1
    return wrong, failed


listen(ORIGIN, serve)
proxy = Proxy(BIN, "http-origin", routes(PORT, ORIGIN), PORT)
rnd = random.Random(int(os.environ.get("SEED", "1")))
count = 0
statuses = {}  # the status of each connection's first answer, counted
end = time.time() + SECONDS


def worker(seed):
    global count
    r = random.Random(seed)
    while time.time() < end and proxy.alive():
        n = r.choice([1, 1, 2, 5])  # keep-alive: several requests on one connection
        if os.environ.get("CLIENT") == "h2":
            status = h2_batch(r, n)
        else:
            got = exchange(PORT, b"".join(request(r, i == n - 1) for i in range(n)), timeout=0.5)
            status = got[9:12].decode("latin-1") if got.startswith(b"HTTP/1.1 ") else "none"
        statuses[status] = statuses.get(status, 0) + 1
        count += n


threads = [threading.Thread(target=worker, args=(rnd.random(),)) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
sane.set()
print(f"first answers by status: {dict(sorted(statuses.items()))}")
wrong, failed = answers_its_own(20) if proxy.alive() else ([], -1)
print(f"afterwards, 100 requests: {len(wrong)} answered with another's response, {failed} not answered")
for target, got in wrong[:5]:
    print(target, got)
status = proxy.finish(f"requests {count}")
sys.exit(status or (1 if wrong or failed else 0))
