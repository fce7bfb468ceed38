#!/usr/bin/env python3
"""Write a corpus for bench/waf_replay.py from GoTestWAF's test cases (JSON Lines on standard
output): each request GoTestWAF itself would send for them.

    bench/waf_gotestwaf.py /path/to/gotestwaf/testcases > gotestwaf.jsonl
    bench/waf_replay.py --crs 3 --pl 1 gotestwaf.jsonl

GoTestWAF (github.com/wallarm/gotestwaf) is the attack generator WAF vendors and their users
compare WAFs with: YAML files of payloads, each sent through every `encoder` of its file
(`Plain`, `URL`, `Base64`, `Base64Flat`, `JSUnicode`, `XMLEntity`) in every `placeholder` of
its file (the query, the path, a header, the User-Agent, a form, a multipart form, a JSON
request, a raw JSON, XML or SOAP body, a non-CRUD method, a raw request). Files under
`false-pos/` are benign texts (`kind: benign`); every other payload is an `attack`. The
test cases are not in this repository: point this at a checkout of GoTestWAF's `testcases`
folder. Requests are built as GoTestWAF's Go client builds them (placeholders and encoders
as in its `internal/payload`), with random names and multipart boundaries drawn from
`--seed`; a request Go would refuse to build (a path with a bad `%` escape, a control
character in the URL or a header) is left out and counted on standard error, as GoTestWAF
leaves it out. gRPC and GraphQL placeholders are skipped (they need their own clients).
"""
import argparse, base64, glob, json, os, random, re, sys

import yaml

BROWSER = [["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"],
           ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
           ["Accept-Language", "en-GB,en;q=0.8"], ["Accept-Encoding", "gzip"]]
SOAP = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
\txmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
\t<soapenv:Header>
\t\t<ns1:RequestHeader soapenv:actor="http://schemas.xmlsoap.org/soap/actor/next"
\t\t\tsoapenv:mustUnderstand="0" xmlns:ns1="https://www.google.com/apis/ads/publisher/v202002">
\t\t</ns1:RequestHeader>
\t</soapenv:Header>
\t<soapenv:Body>
\t\t<getAdUnitsByStatement xmlns="https://www.google.com/apis/ads/publisher/v202002">
\t\t\t<filterStatement>
\t\t\t\t<{name}>{payload}</{name}>
\t\t\t</filterStatement>
\t\t</getAdUnitsByStatement>
\t</soapenv:Body>
</soapenv:Envelope>"""


class Unbuildable(Exception):
    """A request Go's net/http would refuse to build."""


def go_escape(text, keep):
    """Go's url escaping: ASCII letters, digits, `-_.~` and `keep` as they are, the rest as
    upper-case %XX of its UTF-8 bytes; a space is `+` only in a query component."""
    out = []
    for byte in text.encode():
        c = chr(byte)
        if c.isascii() and (c.isalnum() or c in "-_.~" or c in keep):
            out.append(c)
        elif c == " " and keep == "":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def go_unescape(text):
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise Unbuildable("invalid URL escape")
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  text.encode()).decode("utf-8", "surrogateescape")


def go_request_target(raw):
    """What Go sends as the request target for `raw` (a path, maybe with a query): url.Parse's
    path, sent as written when it is validly encoded, escaped again when it is not."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise Unbuildable("control character in URL")
    raw = raw.split("#", 1)[0]
    path, query = (raw.split("?", 1) + [None])[:2]
    decoded = go_unescape(path)
    valid = all(c.isascii() and (c.isalnum() or c in "-_.~$&+,/:;=@!'()*[]%") for c in path)
    target = path if valid else go_escape(decoded, "$&+,/:;=@")
    return target if query is None else f"{target}?{query}"


def encode(encoder, payload):
    if encoder == "Plain":
        return payload
    if encoder == "URL":
        return go_escape(payload, "")
    if encoder in ("Base64", "Base64Flat"):
        text = base64.b64encode(payload.encode()).decode()
        return text.replace("=", "") if encoder == "Base64Flat" else text
    if encoder == "JSUnicode":
        units = payload.encode("utf-16-be")
        return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
    if encoder == "XMLEntity":  # encoding/xml's Encoder.Encode of a string
        table = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;",
                 "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}
        return "<string>" + "".join(table.get(c, c) for c in payload) + "</string>"
    raise SystemExit(f"unknown encoder {encoder}")


def header_value(value):
    if any(c in value for c in "\r\n\0"):
        raise Unbuildable("invalid header value")
    return value


def place(placeholder, config, payload, rng):
    """(method, target, extra headers, body) as GoTestWAF's placeholder builds them."""
    name = rng.randbytes(5).hex()
    if placeholder == "URLParam":
        return "GET", go_request_target(f"/?{name}={payload}"), [], ""
    if placeholder == "URLPath":
        return "GET", go_request_target(f"/{payload}"), [], ""
    if placeholder == "Header":
        return "GET", "/", [[f"X-{name}", header_value(payload)]], ""
    if placeholder == "UserAgent":
        return "GET", "/", [["User-Agent", header_value(payload)]], ""
    if placeholder == "HTMLForm":
        return "POST", "/", [["Content-Type", "application/x-www-form-urlencoded"]], f"{name}={payload}"
    if placeholder == "HTMLMultipartForm":
        boundary = rng.randbytes(30).hex()
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{payload}\r\n--{boundary}--\r\n")
        return "POST", "/", [["Content-Type", f"multipart/form-data; boundary={boundary}"]], body
    if placeholder == "JSONRequest":
        body = '{"test":true, "%s": "%s"}' % (name, encode("JSUnicode", payload))
        return "POST", "/", [["Content-Type", "application/json"]], body
    if placeholder == "JSONBody":
        return "POST", "/", [["Content-Type", "application/json"]], payload
    if placeholder == "XMLBody":
        return "POST", "/", [["Content-Type", "text/xml"]], payload
    if placeholder == "SOAPBody":
        body = SOAP.format(name="ab" + name, payload=encode("XMLEntity", payload))
        return "POST", "/", [["SOAPAction", '"http://schemas.xmlsoap.org/soap/actor/next"'],
                             ["Content-Type", "text/xml"]], body
    if placeholder == "RequestBody":
        return "POST", "/", [], payload
    if placeholder == "NonCRUDRequestBody":
        return "CUST", "/", [], payload
    if placeholder == "RawRequest":
        fill = lambda text: text.replace("{{payload}}", payload)
        path = "/" + fill(config.get("path") or "/").lstrip("/")
        headers = [[k, header_value(fill(v))] for k, v in (config.get("headers") or {}).items()]
        return config["method"], go_request_target(path), headers, fill(config.get("body") or "")
    return None


def cases(folder, seed):
    rng = random.Random(seed)
    skipped = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.yml"), recursive=True)):
        test = yaml.safe_load(open(path, encoding="utf-8"))
        if not isinstance(test, dict) or "payload" not in test:
            continue
        kind = "benign" if os.sep + "false-pos" + os.sep in path else "attack"
        label = os.path.relpath(path, folder)
        for entry in test["placeholder"]:
            placeholder, config = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
            for encoder in test["encoder"]:
                for i, payload in enumerate(test["payload"]):
                    try:
                        built = place(placeholder, config, encode(encoder, str(payload)), rng)
                    except Unbuildable as why:
                        skipped[str(why)] = skipped.get(str(why), 0) + 1
                        continue
                    if built is None:
                        skipped[f"placeholder {placeholder}"] = skipped.get(f"placeholder {placeholder}", 0) + 1
                        continue
                    method, target, extra, body = built
                    names = {k.lower() for k, _ in extra}
                    headers = [h for h in BROWSER if h[0].lower() not in names] + extra
                    yield {"kind": kind, "name": f"{label} {placeholder} {encoder} #{i}", "method": method,
                           "path": target, "headers": headers, "body": body}
    for why, count in sorted(skipped.items()):
        print(f"left out {count}: {why}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("testcases", help="GoTestWAF's testcases folder")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for case in cases(args.testcases, args.seed):
        print(json.dumps(case, ensure_ascii=False))


if __name__ == "__main__":
    main()
