#!/usr/bin/env python3
"""Each transformation CRS uses, and libinjection's operators, on random inputs, through
libmodsecurity 3.0.9 (Debian's, in nginx) and through Forecourt's engine; prints how many
outputs differ and the shortest examples.

    bench/waf_transformations.py --count 3000 --seed 2
    bench/waf_transformations.py --fragments text --count 4000 --seed 5 --show 10
    bench/waf_transformations.py --fragments sql --count 3000 --seed 1 --transformations @detectSQLi,@detectXSS

An input is a random string of 1 to 10 fragments: `--fragments syntax` are escapes and
markers (`%u`, `\\x`, `&#x`, `/*`, `-->`, `../`, quotes, whitespace, hex digits...),
`--fragments text` are entities, JavaScript and CSS escapes, paths, command-line
punctuation and characters beyond ASCII; `sql`, `html` and `cards` are SQL, HTML/script
and digit-group pieces for the operators. An `@operator` (`@detectSQLi`, `@detectXSS`,
`@verifyCC=PATTERN`) gives `1` and what it captured (SQLi's fingerprint, the card number)
when it matches, nothing when not. ModSecurity gets each input as a query argument
every byte of which is percent-encoded, and a rule per transformation logs
`t:none,t:NAME,t:hexEncode` of it; the engine gets the same bytes through
`crates/seclang/examples/transform.rs`. Inputs with a NUL are left out (`--nul` keeps
them), and so are outputs of ModSecurity's with bytes beyond ASCII, which the engine's
text (UTF-8) writes otherwise: the comparison is of what CRS's ASCII patterns can see.
Needs nginx-light and libnginx-mod-http-modsecurity; run from the repository root.
"""
import argparse, http.client, json, os, random, re, shutil, subprocess, tempfile, time

CRS_TRANSFORMATIONS = ["urlDecodeUni", "urlDecode", "htmlEntityDecode", "jsDecode", "cssDecode", "cmdLine", "utf8toUnicode",
                       "removeNulls", "removeWhitespace", "compressWhitespace", "replaceComments", "removeCommentsChar",
                       "normalizePath", "normalizePathWin", "escapeSeqDecode", "lowercase", "base64Decode", "length"]
FRAGMENTS = {
    "syntax": ["%", "%2", "%u", "%U00", "%41", "%3c", "%c0%af", "\\", "\\x", "\\u", "\\0", "\\7", "\\3c", "&#", "&#x", "&", ";",
               "lt", "amp", "gt", "nbsp", "quot", "/*", "*/", "/*!", "--", "#", "<!--", "-->", "/", "./", "../", "\\..\\", "a", "Z",
               "3", "c", "f", "e", "41", "3c", "00", "Ff", " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "'", "\"", "^", ",",
               "$", "(", ")", "=", "+", "x", "u", "0x", "`", "{", "}", "\x00", "|", ":", "?", "@", "[", "]", "~", "!", "<", ">",
               "S", "eval", "select", "c:\\", "C:/", "X'41'", "0x414243", "aGVsbG8", "=="],
    "text": ["&", "&#", "&#x", "&#X", ";", "lt", "LT", "amp", "quot", "nbsp", "apos", "copy", "60", "3c", "0000060", "99999999", "x",
             "X", "\\", "\\x", "\\u", "\\u00", "\\0", "\\7", "\\8", "\\3c", "\\3C ", "\\00003c", "\\a", "\\n", "\\\n", "\\\r\n",
             "\\ ", "/", "./", "../", "//", "\\..\\", "C:", "a", "b", "e", "f", "4", "1", " ", "\t", "\n", "^", ",", "(", "'", '"',
             "é", "中", "\u00a0", "\u3000", "\uff1c", "\U0001f4a9", "À", "%", "%u", "%uff1c", "%e2%80%a8", "+", "<", ">", "\x00"],
    "sql": ["select", "SELECT", "union", "all", "or", "OR", "and", "from", "where", "1", "0", "-1", "1e1", ".5", "'a'", "'", "\"",
            "`", "--", "-- -", "#", "/*", "*/", "/*!50000", "(", ")", "=", "<", ">", "<>", "!=", ";", "sleep(5)", "benchmark(",
            "@@version", "@a", "0x41", "char(", "concat(", "in boolean mode", "like", "between", "is null", "not", "xor", "&&",
            "||", "case when", "then", "else", "end", "exec", "waitfor delay", "'0:0:5'", "[", "]", "{", "}", ",", "+", "-", "*",
            "/", "%", "\\", "N'", "x'41'", "b'1'", "$$", "admin", "users", "information_schema", "limit", "order by", " ", "\t",
            "\n", "true", "null", "drop", "insert into", "values", "pg_sleep(", "ascii(", "substr(", "if(", ":=", "<=>", "::", "e"],
    "cards": ["4111", "1111", " ", "-", "5500", "0000", "0004", "1234", "5678", "9", "0", "3782", "822463", "10005", "x", "ref",
              ":", ".", "4", "42", "6011", "0009", "7"],
    "html": ["<", ">", "<script>", "</script>", "<img", " src=", "x", " onerror=", "onload=", "alert(1)", "javascript:", "<svg",
             "/onload=", "<a href=", "\"", "'", "`", "<!--", "-->", "<iframe", "style=", "expression(", "<body", "<div", "data:",
             "base64,", " ", "/", "=", "&lt;", "&#60;", "<?", "?>", "<![CDATA[", "]]>", "<x", "on", "mouseover", "vbscript:",
             "<meta", "<object", "<link", "rel=", "<style>", "@import", "url(", "<input", "autofocus", "onfocus=", "hello", "<b>",
             "\n", "\t", "#", ";", "(", ")", "{", "}"],
}
PORT = 19310
HERE = os.path.dirname(os.path.abspath(__file__))


def inputs(fragments, count, seed, nul):
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < count:
        value = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 10))).encode()
        if value not in seen and len(value) <= 90 and (nul or 0 not in value):
            seen.add(value)
            out.append(value)
    return out


def modsecurity_outputs(work, names, values):
    """{input index: {transformation: output bytes}} as libmodsecurity logs them."""
    rules = ["SecRuleEngine On", "SecAuditEngine On", "SecAuditLogParts ABH", "SecAuditLogType Serial", "SecAuditLogFormat JSON",
             f"SecAuditLog {work}/audit.log", "SecUnicodeMapFile /etc/nginx/unicode.mapping 20127"]
    for i, name in enumerate(names):
        if name.startswith("@"):  # what it captured (XSS captures nothing); `@name=argument`
            logdata = ",logdata:'%{TX.0}'" if name != "@detectXSS" else ""
            operator = name.replace("=", " ", 1).replace('"', '\\"')
            rules.append(f"SecRule ARGS:v \"{operator}\" \"id:{1000 + i},phase:1,pass,log,capture,t:none,msg:'op'{logdata}\"")
        else:
            rules.append(f"SecRule ARGS:v \"@rx ^(.*)$\" \"id:{1000 + i},phase:1,pass,log,capture,t:none,t:{name},t:hexEncode,"
                         f"msg:'{name}',logdata:'%{{TX.1}}'\"")
    open(f"{work}/rules.conf", "w").write("\n".join(rules) + "\n")
    open(f"{work}/nginx.conf", "w").write(f"""load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;
worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/error.log warn; events {{}}
http {{ access_log off; client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{PORT}; modsecurity on; modsecurity_rules_file {work}/rules.conf; location / {{ return 200; }} }} }}""")
    nginx = subprocess.Popen(["nginx", "-c", f"{work}/nginx.conf", "-p", work], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.8)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        for n, value in enumerate(values):
            conn.request("GET", "/?v=" + "".join(f"%{b:02X}" for b in value) + f"&n={n}")
            conn.getresponse().read()
        time.sleep(0.5)
    finally:
        nginx.terminate()
        nginx.wait()
    outputs = {}
    for line in open(f"{work}/audit.log"):
        if line.startswith("{"):
            tx = json.loads(line)["transaction"]
            n = int(tx["request"]["uri"].rsplit("n=", 1)[1])
            outputs[n] = {}
            for m in tx.get("messages", []):
                name, data = names[int(m["details"]["ruleId"]) - 1000], m["details"].get("data", "")
                outputs[n][name] = b"1" + data.encode() if name.startswith("@") else bytes.fromhex(data)
    return outputs


def engine_outputs(names, values):
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "forecourt-seclang", "--example", "transform"], check=True)
    binary = os.path.join(HERE, "..", "target", "release", "examples", "transform")
    lines = subprocess.run([binary] + names, input="".join(v.hex() + "\n" for v in values), capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return [[bytes.fromhex(h) for h in (line + " " * (len(names) - 1)).split(" ")[:len(names)]] for line in lines]


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--fragments", choices=sorted(FRAGMENTS), default="syntax")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=5)
    ap.add_argument("--nul", action="store_true", help="keep inputs with a NUL byte")
    ap.add_argument("--transformations", default=",".join(CRS_TRANSFORMATIONS))
    args = ap.parse_args()
    names = []
    for part in args.transformations.split(","):
        if names and not re.match(r"[@A-Za-z]", part):  # a comma inside an argument: {13,16}
            names[-1] += "," + part
        else:
            names.append(part)
    values = inputs(FRAGMENTS[args.fragments], args.count, args.seed, args.nul)
    work = tempfile.mkdtemp(prefix="waf-transformations-")
    try:
        theirs = modsecurity_outputs(work, names, values)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = engine_outputs(names, values)
    for i, name in enumerate(names):
        compared, differ = 0, []
        for n, value in enumerate(values):
            expected = theirs.get(n, {}).get(name, b"" if name.startswith("@") else None)
            if expected is None or any(b >= 0x80 for b in expected):
                continue
            compared += 1
            if ours[n][i] != expected:
                differ.append((value, expected, ours[n][i]))
        print(f"{name:20s} {len(differ):5d} of {compared} outputs differ")
        for value, expected, got in sorted(differ, key=lambda d: len(d[0]))[:args.show]:
            print(f"    {value!r}\n        libmodsecurity {expected!r}\n        Forecourt      {got!r}")


if __name__ == "__main__":
    main()
