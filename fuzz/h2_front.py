#!/usr/bin/env python3
"""The proxy's HTTP/2 front (prior knowledge on a plain listener), fuzzed from outside:
connections of HPACK-encoded requests whose header lists are mutated (pseudo-headers
missing, doubled, out of order, empty or odd; connection-specific fields; names in
capitals; values with bytes the field grammar forbids; lengths that lie about the DATA),
and frames mutated around them (type, flags, stream id, length, padding, order; PING,
SETTINGS, WINDOW_UPDATE, PRIORITY, RST_STREAM, GOAWAY and CONTINUATION in between), and
now and then the whole connection's bytes mutated, over real sockets, eight at a time,
through the routes of `harness.routes` to a plain HTTP/1 origin. At the end, one ordinary
request must still be served.

    fuzz/h2_front.py target/debug/forecourt 600        # seconds; SEED=n for another run
"""
import os, random, struct, sys, threading, time

from harness import Proxy, exchange, mutate, page_origin, routes

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 300
PORT, ORIGIN = 18992, 18993
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONTINUATION = range(10)
END_STREAM, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x4, 0x8, 0x20


def integer(value, prefix_bits, first=0):
    """HPACK's integer (RFC 7541 §5.1) with `first` in the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack(fields, rnd, hostile):
    """Literal fields, new names, never indexed or not (no Huffman); when `hostile`, now
    and then an indexed static entry or a dynamic-table-size update."""
    out = bytearray()
    if hostile and rnd.random() < 0.2:
        out += integer(rnd.choice([0, 100, 4096, 1 << 20]), 5, 0x20)
    for name, value in fields:
        if hostile and rnd.random() < 0.1:
            out += integer(rnd.choice([1, 2, 4, 8, 61, 62, 200]), 7, 0x80)
        out += bytes([rnd.choice([0x00, 0x10])])
        out += integer(len(name), 7) + name
        out += integer(len(value), 7) + value
    return bytes(out)


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


PATHS = [b"/c/a?x=1", b"/z/page", b"/w/form?q=1", b"/cz/p", b"/", b"*", b"", b"//x", b"http://a/c/abs",
         b"/%", b"/%zz", b"/c/../../etc/passwd", b"/<>\"`", b"/w/?q=1' or '1'='1", b"/c/" + b"a" * 9000,
         b"/\x00", b"/c/\xff\xfe", b"/z/a b", b"?x", b"/c/a#frag"]
METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"PURGE", b"get", b"", b"G T", b"TRACE"]
EXTRA = [(b"accept-encoding", b"gzip, br;q=0.5, zstd"), (b"range", b"bytes=0-10"), (b"if-none-match", b"\"x\""),
         (b"if-modified-since", b"Sat, 32 Dec 9999 99:99:99 GMT"), (b"cache-control", b"no-cache"),
         (b"content-length", b"5"), (b"content-length", b"-1"), (b"content-length", b"18446744073709551616"),
         (b"content-type", b"application/x-www-form-urlencoded"), (b"content-type", b"application/json"),
         (b"content-type", b"multipart/form-data; boundary=B"), (b"cookie", b"a=1"), (b"cookie", b"b=<script>"),
         (b"connection", b"close"), (b"te", b"trailers"), (b"te", b"gzip"), (b"upgrade", b"websocket"),
         (b"transfer-encoding", b"chunked"), (b"keep-alive", b"1"), (b"host", b"b"),
         (b"x-forwarded-for", b"1.2.3.4, ::1"), (b"forwarded", b"for=\"[::1]\""), (b"x-space", b" a "),
         (b"accept", b"text/html"), (b"user-agent", b"sqlmap/1.7")]
# Fields that h2 answers with a GOAWAY (a malformed field is a connection error there): only
# in hostile connections, so that most connections get as far as the routes.
FATAL = [(b":protocol", b"websocket"), (b":status", b"200"), (b"Host", b"c"), (b"X-Upper", b"1"),
         (b":unknown", b"x"), (b"bad name", b"x"), (b"x-nul", b"a\x00b"), (b"x-crlf", b"a\r\nb: c"), (b"", b"empty"),
         (b"x-long", b"v" * 20000)]
BODIES = [b"", b"name=a&c=%3Cscript%3E", b"{\"a\":[1,{\"b\":\"' or 1=1--\"}]}", b"[[[[[[[[[[[[[[[[",
          b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\n\r\n<?php ?>\r\n--B--\r\n",
          b"x" * 40000, b"x" * 70000]
URI_BYTES = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#[]@!$&'()*+,;=%")


def printable(value, pseudo):
    """`value` as h2 lets it through: a pseudo-header's bytes that a URI may not hold
    percent-encoded, a field value's control bytes dropped."""
    if pseudo:
        return b"".join(bytes([b]) if b in URI_BYTES else b"%%%02X" % b for b in value)
    return bytes(b for b in value if 0x20 <= b < 0x7f or b >= 0x80)


def request_fields(rnd, hostile):
    """A request's header list. One that is not `hostile` keeps to what h2 lets through
    to the routes (values edited with printable bytes only); a hostile one may be
    malformed in any way, which h2 answers with a GOAWAY for the whole connection."""
    fields = [(b":method", rnd.choice(METHODS[:6]) if rnd.random() < 0.8 else rnd.choice(METHODS)),
              (b":scheme", b"http" if rnd.random() < 0.9 else rnd.choice([b"https", b"", b"ftp"])),
              (b":authority", b"a" if rnd.random() < 0.85 else rnd.choice([b"", b"a:99999", b"[::1", b"a@b", b"a b"])),
              (b":path", rnd.choice(PATHS[:5]) if rnd.random() < 0.6 else rnd.choice(PATHS))]
    fields += rnd.sample(EXTRA, rnd.randint(0, 4))
    if not hostile:
        fields = [(n, v) for n, v in fields if n != b":method" or v in METHODS[:6]]
        for _ in range(rnd.choice([0, 1, 2])):
            i = rnd.randrange(1, len(fields))
            name, value = fields[i]
            fields[i] = (name, mutate(rnd, value, [b"%", b"'", b"<", b"..", b"/", b"%00", b"\\", b";"], []))
        return [(n, printable(v, n.startswith(b":"))) for n, v in fields]
    if rnd.random() < 0.2:
        fields.insert(rnd.randrange(len(fields) + 1), rnd.choice(FATAL))
    for _ in range(rnd.choice([0, 1, 2, 3])):
        edit = rnd.randrange(5)
        i = rnd.randrange(len(fields))
        if edit == 0:
            del fields[i]
        elif edit == 1:
            fields.insert(rnd.randrange(len(fields) + 1), fields[i])
        elif edit == 2:  # a pseudo-header after a regular field
            fields.append(fields.pop(i))
        elif edit == 3:
            name, value = fields[i]
            fields[i] = (name, mutate(rnd, value, [b"\x00", b"\r", b"\n", b"\x7f", b"%", b"\xff"], PATHS))
        elif edit == 4:
            name, value = fields[i]
            fields[i] = (name.upper(), value)
    return fields


def stream_frames(rnd, stream, hostile, window):
    """One request on `stream`: HEADERS (maybe split into CONTINUATIONs, maybe padded or
    with a priority), then DATA frames, the last with END_STREAM (or none). Unless
    `hostile`, the body is left out where it would overrun `window`, what is left of the
    connection's flow-control window (this client reads no WINDOW_UPDATE), and padding
    and priorities are well-formed."""
    block = hpack(request_fields(rnd, hostile), rnd, hostile)
    body = rnd.choice(BODIES) if rnd.random() < 0.4 else b""
    if not hostile and len(body) > window:
        body = b""
    out = []
    split = rnd.random() < 0.2 and len(block) > 2
    first = block[: len(block) // 2] if split else block
    flags = (0 if body else END_STREAM) | (0 if split else END_HEADERS)
    payload = first
    if rnd.random() < 0.1:
        flags |= PRIORITY_FLAG
        depends = rnd.choice([0, stream, 1 << 31 | 1]) if hostile else rnd.choice([0, 1 << 31])
        payload = struct.pack(">IB", depends, rnd.randrange(256)) + payload
    if rnd.random() < 0.1:
        flags |= PADDED
        pad = rnd.randrange(256)
        payload = bytes([pad]) + payload + b"\x00" * (rnd.choice([pad, pad - 1, 0]) if hostile else pad)
    out.append(frame(HEADERS, flags, stream, payload))
    if split:
        out.append(frame(CONTINUATION, END_HEADERS, stream, block[len(block) // 2:]))
    for i in range(0, len(body), 16384):
        last = i + 16384 >= len(body)
        out.append(frame(DATA, END_STREAM if last and rnd.random() < 0.95 else 0, stream, body[i:i + 16384]))
    return out


def stray_frame(rnd, streams):
    stream = rnd.choice([0, 1, 2, streams + 2, 0x7fffffff] + list(range(1, streams + 1, 2)))
    kind = rnd.choice([PING, SETTINGS, WINDOW, PRIORITY, RST, GOAWAY, CONTINUATION, PUSH, DATA, 0x0a, 0xff])
    payload = {
        PING: b"\x00" * rnd.choice([8, 8, 7]),
        SETTINGS: b"".join(struct.pack(">HI", rnd.choice([1, 2, 3, 4, 5, 6, 8, 9, 0x99]),
                                       rnd.choice([0, 1, 100, 16383, 16384, 65535, 2**31, 2**32 - 1]))
                           for _ in range(rnd.randint(0, 3))),
        WINDOW: struct.pack(">I", rnd.choice([0, 1, 65535, 2**31 - 1, 2**31])),
        PRIORITY: struct.pack(">IB", rnd.choice([0, stream, 3]), 16),
        RST: struct.pack(">I", rnd.choice([0, 1, 8, 11, 0xffff])),
        GOAWAY: struct.pack(">II", 0, rnd.choice([0, 1, 11])),
    }.get(kind, rnd.randbytes(rnd.randint(0, 20)))
    return frame(kind, rnd.choice([0, 1, 4, 0xff]), stream, payload)


def connection(rnd):
    """A connection's bytes: a third of them hostile (any stream may be malformed, frames
    out of place, the bytes mutated), the rest with well-formed frames and requests that
    reach the routes."""
    hostile = rnd.random() < 0.33
    frames = [frame(SETTINGS, 0, 0, b"")]
    streams = rnd.choice([1, 1, 2, 3, 10, 40])
    window = 65535
    for s in range(1, streams * 2, 2):
        frames += stream_frames(rnd, s, hostile and rnd.random() < 0.2, window)
        window -= sum(len(f) - 9 for f in frames if f[3] == DATA and int.from_bytes(f[5:9], "big") == s)
        if rnd.random() < 0.15:  # a rapid reset
            frames.append(frame(RST, 0, s, struct.pack(">I", 8)))
    if not hostile:
        return PREFACE + b"".join(frames)
    for _ in range(rnd.choice([0, 1, 3])):
        frames.insert(rnd.randrange(1, len(frames) + 1), stray_frame(rnd, streams * 2))
    if rnd.random() < 0.15 and len(frames) > 2:
        rnd.shuffle(frames)
    data = PREFACE + b"".join(frames)
    if rnd.random() < 0.3:
        data = PREFACE + mutate(rnd, data[len(PREFACE):], [b"\x00" * 9, b"\xff" * 4, frame(SETTINGS, 1, 0, b"")], frames)
    return data


def server_frames(data):
    """The (type, flags, stream, payload) of each whole frame the server sent."""
    out, i = [], 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], "big")
        kind, flags = data[i + 3], data[i + 4]
        stream = int.from_bytes(data[i + 5:i + 9], "big") & 0x7fffffff
        out.append((kind, flags, stream, data[i + 9:i + 9 + length]))
        i += 9 + length
    return out


def served_after():
    """One ordinary request on a new connection still gets its page."""
    fields = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/plain")]
    block = b"".join(b"\x00" + integer(len(n), 7) + n + integer(len(v), 7) + v for n, v in fields)
    got = exchange(PORT, PREFACE + frame(SETTINGS, 0, 0, b"") + frame(HEADERS, END_STREAM | END_HEADERS, 1, block),
                   timeout=2)
    return b"hello world" in got


page_origin(ORIGIN, 5)
proxy = Proxy(BIN, "h2-front", routes(PORT, ORIGIN), PORT)
rnd = random.Random(int(os.environ.get("SEED", "1")))
count = 0
answered = 0  # response heads that came back, all connections together
goaways = {}  # GOAWAY error codes the server sent, counted
end = time.time() + SECONDS


def worker(seed):
    global count, answered
    r = random.Random(seed)
    while time.time() < end and proxy.alive():
        frames = server_frames(exchange(PORT, connection(r)))
        count += 1
        answered += sum(kind == HEADERS for kind, *_ in frames)
        for kind, _, _, payload in frames:
            if kind == GOAWAY and len(payload) >= 8:
                code = int.from_bytes(payload[4:8], "big")
                goaways[code] = goaways.get(code, 0) + 1


threads = [threading.Thread(target=worker, args=(rnd.random(),)) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
served = proxy.alive() and served_after()
print(f"responses: {answered}; GOAWAY codes: {dict(sorted(goaways.items()))}")
print(f"an ordinary request served afterwards: {served}")
sys.exit(proxy.finish(f"connections {count}") or (0 if served else 1))
