#!/usr/bin/env python3
"""The proxy's HTTP/1 front, fuzzed from outside: mutated requests (bytes flipped, line
endings broken, framing fields duplicated or overflowed, pieces of other requests spliced
in, a good request pipelined behind a bad one) over real sockets, eight at a time, through
routes with the cache, the WAF (Debian's CRS), compression and none, to a raw origin. A
panic would abort the release build: the script counts `panicked` in the proxy's output
and checks that the process is alive at the end.

    fuzz/http_front.py target/debug/forecourt 600        # seconds; SEED=n for another run
"""
import os, random, sys, threading, time

from harness import Proxy, exchange, mutate, page_origin, routes

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 300
PORT, ORIGIN = 18990, 18991

page_origin(ORIGIN, 60)
proxy = Proxy(BIN, "http-front", routes(PORT, ORIGIN), PORT)

SEEDS = [
    b"GET /c/a?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br;q=0.5\r\nRange: bytes=0-10\r\n\r\n",
    b"GET /z/page HTTP/1.1\r\nHost: a\r\nAccept-Encoding: zstd, gzip\r\nIf-None-Match: \"x\"\r\n\r\n",
    b"POST /w/form?q=1%27+or+1%3D1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 19\r\n\r\nname=a&c=%3Cscript%3E",
    b"POST /w/j HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"a\":[1]}\r\n0\r\n\r\n",
    b"POST /w/up HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 88\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\n\r\n<?php ?>\r\n--B--\r\n",
    b"GET http://a/c/abs HTTP/1.1\r\nHost: b\r\nCookie: s=1; t=2\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /c/x/../y//z%2e%2e HTTP/1.0\r\n\r\n",
    b"PUT /c/a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
]
TOKENS = [b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b":", b";", b",", b"=", b"%", b"%00", b"\xff", b"\xc0\xaf",
          b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: gzip, chunked\r\n", b"Content-Length: 99999999999999999999\r\n", b"Content-Length: -1\r\n",
          b"ffffffffffffffff\r\n", b"0\r\n\r\n", b"HTTP/1.1", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"Host: \r\n", b"Range: bytes=-0,5-1\r\n",
          b"Accept-Encoding: *;q=0.0001, gzip;q=1e3\r\n", b"Cache-Control: max-age=99999999999999999999, no-cache=\"\r\n",
          b"Vary: *\r\n", b"If-Modified-Since: Sat, 32 Dec 9999 99:99:99 GMT\r\n", b"..", b"/../", b"\\", b"\"",
          b"Content-Type: multipart/form-data; boundary=\r\n", b"Content-Type: application/json\r\n", b"[[[[[[[[[[",
          b"{\"a\":" * 20]

rnd = random.Random(int(os.environ.get("SEED", "1")))
n = 0
end = time.time() + SECONDS


def worker(seed):
    global n
    r = random.Random(seed)
    while time.time() < end and proxy.alive():
        base = r.choice(SEEDS)
        data = mutate(r, base, TOKENS, SEEDS)
        if r.random() < 0.2:  # pipelined: a good request after the bad one
            data += SEEDS[0]
        exchange(PORT, data)
        n += 1
threads = [threading.Thread(target=worker, args=(rnd.random(),)) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
sys.exit(proxy.finish(f"requests {n}"))
