"""What the black-box fuzzers share: the real binary started on a config, a client socket
that sends bytes and reads whatever comes back, and the verdict at the end (the process
alive, no `panicked` in its output; the release build aborts on a panic, so one reachable
panic would take every connection down)."""
import os, socket, subprocess, sys, threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from ports import wait_port  # noqa: E402  (bench/ports.py)

WORK = os.path.join(os.environ.get("TMPDIR", "/tmp"), "forecourt-fuzz")


def routes(port, origin, protocol="http1"):
    """A listener on `port` and routes through the cache, the WAF (Debian's CRS),
    compression and none, all to one origin on `origin`. Targets with bytes past ASCII
    are escaped and served (not refused, the default), so that the repair is fuzzed too."""
    return f"""[global]
workers = 1
admin = "off"
access_log = "off"
[global.limits]
non_ascii_targets = "escape"
[waf.default]
rules = ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"]
[[listen]]
addr = "127.0.0.1:{port}"
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
path = "/cz"
upstream = "o"
cache = {{ default_ttl = {{ 200 = "2s", any = "1s" }} }}
compress = true
[[route]]
upstream = "o"
[upstream.o]
servers = ["127.0.0.1:{origin}"]
protocol = "{protocol}"
"""


class Proxy:
    """The binary at `binary` running `conf`, its output in a log under WORK/`name`."""

    def __init__(self, binary, name, conf, port):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            raise SystemExit(f"something already listens on {port}: a proxy of an earlier run?")
        except OSError:
            pass
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        with open(f"{self.dir}/fc.toml", "w") as f:
            f.write(conf)
        self.log_path = f"{self.dir}/fc.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "run", "-c", f"{self.dir}/fc.toml"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(port)

    def alive(self):
        return self.proc.poll() is None

    def finish(self, what):
        """Stops the proxy; prints `what`, whether it was alive and its panics; the exit
        status says whether it held."""
        alive = self.alive()
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        text = open(self.log_path, "rb").read().decode("utf-8", "replace")
        panics = [line for line in text.splitlines() if "panicked" in line]
        print(f"{what}, alive {alive}, panics {len(panics)}")
        for line in panics[:10]:
            print(line)
        return 0 if alive and not panics else 1


def requests(conn):
    """Each request head read off `conn`, as bytes, its body (by Content-Length, or
    chunked up to the last chunk) read past; a loose reader, as a fuzzer's origin needs."""
    conn.settimeout(2)
    buf = b""
    try:
        while True:
            d = conn.recv(65536)
            if not d:
                return
            buf += d
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        try:
                            n = int(line.split(b":")[1])
                        except ValueError:
                            n = 0
                if b"transfer-encoding: chunked" in head.lower():
                    if rest.startswith(b"0\r\n\r\n"):
                        buf = rest[5:]
                    elif (end := rest.find(b"\r\n0\r\n\r\n")) >= 0:
                        buf = rest[end + 7:]
                    else:
                        break
                elif len(rest) < n:
                    break
                else:
                    buf = rest[n:]
                yield head
    except OSError:
        return


def listen(port, serve):
    """A thread that accepts on `port` and runs `serve(conn)` on a thread per connection."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(512)

    def accept():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


PAGE = b"<html>" + b"hello world " * 200 + b"</html>"


def page_origin(port, max_age, tls=None):
    """An origin that answers every request with PAGE, cacheable for `max_age` seconds;
    over TLS with `tls` (a server `ssl.SSLContext`)."""
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: max-age=%d\r\nETag: \"x\"\r\n"
            b"Content-Length: %d\r\n\r\n" % (max_age, len(PAGE)) + PAGE)

    def serve(conn):
        try:
            if tls:
                conn.settimeout(2)
                conn = tls.wrap_socket(conn, server_side=True)
            for _ in requests(conn):
                conn.sendall(resp)
        except OSError:
            pass
        finally:
            conn.close()

    listen(port, serve)


def exchange(port, data, timeout=0.3, chunks=None):
    """Sends `data` (or each of `chunks` in turn) on a new connection and reads until the
    peer closes or falls silent; what came back, or b"" when nothing could be sent."""
    got = bytearray()
    try:
        s = socket.create_connection(("127.0.0.1", port), 1)
        s.settimeout(timeout)
        for piece in chunks or [data]:
            s.sendall(piece)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except OSError:
            pass
        s.close()
    except OSError:
        pass
    return bytes(got)


def mutate(rnd, data, tokens, others):
    """`data` with one to six random edits: a byte changed, one of `tokens` inserted,
    bytes cut, a piece of one of `others` spliced in, a piece repeated, a number that
    overflows, a line ending broken."""
    data = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(7)
        pos = rnd.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rnd.randrange(256)
        elif op == 1:
            data[pos:pos] = rnd.choice(tokens)
        elif op == 2 and data:
            end = min(len(data), pos + rnd.randint(1, 20))
            del data[pos:end]
        elif op == 3 and any(others):
            other = rnd.choice([o for o in others if o])
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
