#!/usr/bin/env python3
"""The proxy's HTTP/1 front, fuzzed from outside: mutated requests (bytes flipped, line
endings broken, framing fields duplicated or overflowed, pieces of other requests spliced
in, a good request pipelined behind a bad one) over real sockets, eight at a time, through
routes with the cache, the WAF (Debian's CRS), compression and none, to a raw origin. A
panic would abort the release build: the script counts `panicked` in the proxy's output
and checks that the process is alive at the end.

    fuzz/http_front.py target/debug/forecourt 600        # seconds; SEED=n for another run
"""
import os, random, socket, subprocess, sys, threading, time

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 300
PORT, ORIGIN = 18990, 18991
work = os.path.join(os.environ.get("TMPDIR", "/tmp"), "forecourt-http-front")
os.makedirs(work, exist_ok=True)

def origin():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", ORIGIN))
    srv.listen(512)
    body = b"<html>" + b"hello world " * 200 + b"</html>"
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: max-age=60\r\nETag: \"x\"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    def serve(c):
        c.settimeout(2)
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                while b"\r\n\r\n" in buf:
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    n = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            try: n = int(line.split(b":")[1])
                            except ValueError: n = 0
                    chunked = b"transfer-encoding: chunked" in head.lower()
                    if chunked:
                        end = rest.find(b"\r\n0\r\n\r\n")
                        if rest.startswith(b"0\r\n\r\n"):
                            end, skip = 0, 5
                        elif end < 0:
                            break
                        else:
                            skip = end + 7
                        buf = rest[skip:]
                    else:
                        if len(rest) < n:
                            break
                        buf = rest[n:]
                    c.sendall(resp)
        except OSError:
            pass
        finally:
            c.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

threading.Thread(target=origin, daemon=True).start()
conf = f"""[global]
workers = 1
admin = "off"
access_log = "off"
[waf.default]
rules = ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"]
[[listen]]
addr = "127.0.0.1:{PORT}"
[[route]]
path = "/c"
upstream = "o"
cache = true
[[route]]
path = "/w"
upstream = "o"
waf = "default"
[[route]]
path = "/z"
upstream = "o"
compress = true
[[route]]
upstream = "o"
[upstream.o]
servers = ["127.0.0.1:{ORIGIN}"]
"""
open(f"{work}/fc.toml", "w").write(conf)
log = open(f"{work}/fc.log", "wb")
proc = subprocess.Popen([BIN, "run", "-c", f"{work}/fc.toml"], stdout=log, stderr=subprocess.STDOUT)
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", PORT), 0.2).close(); break
    except OSError:
        time.sleep(0.1)

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
          b"Transfer-Encoding: chunked\r\n", b"Content-Length: 99999999999999999999\r\n", b"Content-Length: -1\r\n",
          b"ffffffffffffffff\r\n", b"0\r\n\r\n", b"HTTP/1.1", b"HTTP/2.0", b"Host: \r\n", b"Range: bytes=-0,5-1\r\n",
          b"Accept-Encoding: *;q=0.0001, gzip;q=1e3\r\n", b"Cache-Control: max-age=99999999999999999999, no-cache=\"\r\n",
          b"Vary: *\r\n", b"If-Modified-Since: Sat, 32 Dec 9999 99:99:99 GMT\r\n", b"..", b"/../", b"\\", b"\"",
          b"Content-Type: multipart/form-data; boundary=\r\n", b"Content-Type: application/json\r\n", b"[[[[[[[[[[",
          b"{\"a\":" * 20]

def mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(7)
        pos = rnd.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rnd.randrange(256)
        elif op == 1:
            data[pos:pos] = rnd.choice(TOKENS)
        elif op == 2 and data:
            end = min(len(data), pos + rnd.randint(1, 20))
            del data[pos:end]
        elif op == 3:
            other = rnd.choice(SEEDS)
            s = rnd.randrange(len(other))
            data[pos:pos] = other[s:s + rnd.randint(1, 60)]
        elif op == 4 and data:
            s = rnd.randrange(len(data))
            chunk = data[s:s + rnd.randint(1, 30)]
            data[pos:pos] = chunk * rnd.randint(1, 50)
        elif op == 5:
            data[pos:pos] = str(rnd.choice([0, 1, -1, 2**31, 2**32, 2**63, 2**64, 10**30])).encode()
        elif op == 6 and data:
            i = bytes(data).find(b"\r\n", pos)
            if i > 0:
                data[i:i + 2] = rnd.choice([b"\n", b"\r\n\r\n", b"\r\n \r\n", b"\r\n\t"])
    return bytes(data)

def send(data):
    try:
        s = socket.create_connection(("127.0.0.1", PORT), 1)
        s.settimeout(0.3)
        s.sendall(data)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    except OSError:
        pass

rnd = random.Random(int(os.environ.get("SEED", "1")))
n = 0
end = time.time() + SECONDS


def worker(seed):
    global n
    r = random.Random(seed)
    while time.time() < end and proc.poll() is None:
        base = r.choice(SEEDS)
        data = mutate(r, base)
        if r.random() < 0.2:  # pipelined: a good request after the bad one
            data += SEEDS[0]
        send(data)
        n += 1
threads = [threading.Thread(target=worker, args=(rnd.random(),)) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
alive = proc.poll() is None
proc.terminate()
proc.wait()
log.close()
text = open(f"{work}/fc.log", "rb").read().decode("utf-8", "replace")
panics = [l for l in text.splitlines() if "panicked" in l]
print(f"requests {n}, alive {alive}, panics {len(panics)}")
for p in panics[:10]:
    print(p)
