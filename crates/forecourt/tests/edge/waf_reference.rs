//! The differential check: the same requests through Forecourt's WAF and through the
//! reference engine — nginx with Debian's libmodsecurity 3.0.9 (`libnginx-mod-http-modsecurity`)
//! — both running the same CRS (Debian's 3.3.4, and 4.28) at paranoia levels 1 and 4 with
//! the same body settings, in front of the same origin. Their decisions (refused or not)
//! must agree on at least 98% of requests for each ruleset and level, and every
//! disagreement must be one `explained` gives a reason for. An operator's exclusion file
//! (`SecRuleRemoveByTag` and the like) is decided alike too.
use super::common::origin::Origin;
use super::common::*;
use super::waf::{crs4, CRS3};
use super::waf_corpus::{placed, ATTACKS, BENIGN, ENCODED_QUERY_MARK, MORE, PART_CHARSET, QUOTED_BOUNDARY};
use std::process::{Command, Stdio};

/// Why the engines decide a request differently (`name`: the request's; `ours`: whether
/// Forecourt refused it), or `None`: unexplained. Each holds for every ruleset and level.
fn explained(name: &str, ours: bool) -> Option<&'static str> {
    let behind_a_question_mark = name == ENCODED_QUERY_MARK || (name.contains("in the path:") && name.contains('?'));
    if ours && behind_a_question_mark {
        return Some(CVE_2024_1019);
    }
    if !ours && name == QUOTED_BOUNDARY {
        return Some(BOUNDARY_QUOTED);
    }
    if ours && name.starts_with("xxe:") {
        return Some(EXTERNAL_ENTITIES);
    }
    if !ours && name == PART_CHARSET {
        return Some(PART_HEADER_CRLF);
    }
    None
}

/// libmodsecurity 3.0.9 keeps each multipart part header's CRLF in MULTIPART_PART_HEADERS,
/// so the content type CRS 922150 takes from it ends in `\r\n` and 922110 refuses every
/// part that names a charset, `utf-8` included (CRS issue #3046). Forecourt's lines end
/// before the CRLF: an allowed charset passes, another is refused.
const PART_HEADER_CRLF: &str = "ModSecurity refuses a multipart part with any charset (CRLF kept in the part header)";

/// libmodsecurity parses an XML body with libxml2 without loading external entities, and
/// passes it on: the application's parser may load them. Forecourt refuses an XML body
/// whose DTD declares an external entity (a body error, 200002).
const EXTERNAL_ENTITIES: &str = "ModSecurity passes an XML body with external entities (XXE)";

/// ModSecurity's strict multipart check (its recommended rule 200003) counts a quoted
/// boundary among the signs of an evasion; RFC 2046 allows the quotes and .NET's
/// `MultipartFormDataContent` sends them. Forecourt's 200003 leaves that one out.
const BOUNDARY_QUOTED: &str = "ModSecurity refuses a quoted multipart boundary";

/// libmodsecurity 3.0.9 (Debian 12's) decodes the request target before it splits off
/// the query: `/page%3F<script>…` becomes the path `/page` and an empty query, and the
/// script is in no variable the XSS rules read. Fixed upstream in 3.0.12; Forecourt's
/// engine splits first, as the fixed releases do, and refuses it.
const CVE_2024_1019: &str = "libmodsecurity 3.0.9 misses an attack behind an encoded ? (CVE-2024-1019)";

/// nginx + libmodsecurity, proxying to `origin`.
struct NginxModsecurity {
    child: std::process::Child,
    port: u16,
    dir: TempDir,
}

impl NginxModsecurity {
    /// `rules`: the files to include, in order; `pl`: the paranoia level.
    fn start(origin: &Origin, rules: &[String], pl: u8) -> NginxModsecurity {
        let dir = TempDir::new("nginx-modsec");
        let port = free_port();
        let d = dir.0.to_string_lossy().into_owned();
        // What Forecourt's policy adds around the rules (docs/config.md), as ModSecurity's
        // recommended configuration writes it: body access, the JSON and XML processors by
        // type (Forecourt's engine picks them by type), 200002 for a body that does not parse,
        // 200003 and 200004 for a multipart body an application could read differently.
        let rules = dir.file(
            "modsec.conf",
            ("SecRuleEngine On\nSecRequestBodyAccess On\nSecAuditEngine RelevantOnly\nSecAuditLogParts ABHZ\n\
              SecAuditLogType Serial\nSecAuditLog DIR/audit.log\nSecRequestBodyLimit 1048576\nSecRequestBodyNoFilesLimit 1048576\n\
             SecRequestBodyLimitAction Reject\n\
             SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
             SecRule REQUEST_HEADERS:Content-Type \"^application/json\" \"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n\
             SecRule REQBODY_ERROR \"!@eq 0\" \"id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'\"\n\
             SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" \"id:200003,phase:2,t:none,log,deny,status:400\"\n\
             SecRule MULTIPART_UNMATCHED_BOUNDARY \"@eq 1\" \"id:200004,phase:2,t:none,log,deny\"\n\
             SecAction \"id:900000,phase:1,pass,nolog,t:none,setvar:tx.paranoia_level=PL,setvar:tx.blocking_paranoia_level=PL\"\n"
                .replace("PL", &pl.to_string())
                .replace("DIR", &d)
                + &rules.iter().map(|f| format!("Include {f}\n")).collect::<String>())
                .as_str(),
        );
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;\n\
             worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn; daemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
               uwsgi_temp_path {d}/u; scgi_temp_path {d}/s; client_max_body_size 10m;\n\
               server {{ listen 127.0.0.1:{port}; modsecurity on; modsecurity_rules_file {rules};\n\
                 location / {{ proxy_pass http://{}; proxy_set_header Host $host; }} }} }}\n",
            origin.addr
        );
        let path = dir.file("nginx.conf", &conf);
        let child = Command::new("nginx")
            .args(["-c", &path, "-p", &d])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx-light libnginx-mod-http-modsecurity)");
        wait_for_port(port);
        NginxModsecurity { child, port, dir }
    }
}

impl NginxModsecurity {
    /// How long its audit log is.
    fn log_len(&self) -> usize {
        std::fs::metadata(self.dir.path("audit.log")).map_or(0, |m| m.len() as usize)
    }

    /// The ids of the rules ModSecurity's audit log gained after `since` bytes. nginx writes
    /// the entry in its log phase, after the answer has gone out: it is waited for (a
    /// second at most) rather than taken from the entry before.
    async fn rules_logged_after(&self, since: usize) -> String {
        for _ in 0..50 {
            if self.log_len() > since {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let log = std::fs::read(self.dir.path("audit.log")).unwrap_or_default();
        let added = String::from_utf8_lossy(log.get(since..).unwrap_or_default());
        let ids: Vec<&str> = added.split("[id \"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        ids.join(",")
    }
}

impl Drop for NginxModsecurity {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let _ = self.child.wait();
    }
}

fn refused(status: u16) -> bool {
    status == 403 || status == 400
}

/// The rule files a `rules = [...]` array names.
fn files(array: &str) -> Vec<String> {
    array.trim_matches(['[', ']']).split(',').map(|f| f.trim().trim_matches('"').to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_agree_with_nginx_and_libmodsecurity_on_crs_3_and_4_at_pl1_and_pl4() {
    let origin = Origin::start("o");
    // Every request as (name, a function of the base URL): the corpus, then each payload
    // in each part of a request.
    type Make<'a> = Box<dyn Fn(&str) -> http::Request<http_body_util::Full<bytes::Bytes>> + 'a>;
    let written = ATTACKS.iter().chain(BENIGN).chain(MORE);
    let generated = placed();
    let mut cases: Vec<(String, Make)> = written
        .map(|c| (c.name.to_string(), Box::new(move |base: &str| c.request(base, "app.test")) as Make))
        .collect();
    cases.extend(
        generated.iter().map(|p| (p.name.clone(), Box::new(move |base: &str| p.request(base, "app.test")) as Make)),
    );
    let mut unexplained = Vec::new();
    let mut summary = Vec::new();
    for (label, rules) in [("CRS 3.3.4", CRS3.to_string()), ("CRS 4.28", crs4())] {
        for pl in [1u8, 4] {
            let ruleset = format!("{label} PL{pl}");
            let reference = NginxModsecurity::start(&origin, &files(&rules), pl);
            let fc = super::waf::start(&format!(
                "[global]\nadmin = \"off\"\naccess_log = \"off\"\nwaf = \"crs\"\n[waf.crs]\nrules = {rules}\nparanoia_level = {pl}\n\
                 [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\npath = \"/\"\nupstream = \"o\"\n\
                 [upstream.o]\nservers = [\"{}\"]\n",
                origin.addr
            ));
            let reference_base = format!("http://127.0.0.1:{}", reference.port);
            let mut disagreements = 0;
            for (name, make) in &cases {
                let ours = send(&client(), make(&fc.url(""))).await.status;
                let logged = reference.log_len();
                let theirs = send(&client(), make(&reference_base)).await.status;
                if refused(ours) == refused(theirs) {
                    continue;
                }
                disagreements += 1;
                let why = explained(name, refused(ours));
                // It logs only what it refused.
                let rules = match refused(theirs) {
                    true => reference.rules_logged_after(logged).await,
                    false => "none".to_string(),
                };
                let line = format!(
                    "{ruleset}: {name}: Forecourt {ours}, nginx+ModSecurity {theirs} (its log: rules {rules}): {}",
                    why.unwrap_or("UNEXPLAINED")
                );
                println!("{line}");
                if why.is_none() {
                    unexplained.push(line);
                }
            }
            let share = (cases.len() - disagreements) as f64 / cases.len() as f64;
            summary.push(format!(
                "{ruleset}: agreed on {} of {} ({:.1}%)",
                cases.len() - disagreements,
                cases.len(),
                share * 100.0
            ));
            assert!(share >= 0.98, "{ruleset}: agreed on {:.1}% of decisions", share * 100.0);
        }
    }
    println!("{}", summary.join("\n"));
    assert!(unexplained.is_empty(), "unexplained disagreements:\n{}", unexplained.join("\n"));
}

/// An operator's exclusion file after CRS 3.3.4 (PL1), in the directives CRS's examples
/// use, through both engines: they decide every request of the corpus alike, and the
/// exclusions take effect in both (a tag or message names a rule whole and with its case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusion_directives_decide_as_libmodsecurity_does() {
    let origin = Origin::start("o");
    let dir = TempDir::new("waf-exclusion-directives");
    let exclusions = dir.file(
        "RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf",
        "SecRuleRemoveByTag \"attack-rfi\"\n\
         SecRuleRemoveByTag \"ATTACK-XSS\"\n\
         SecRuleUpdateTargetByTag \"attack-sqli\" \"!ARGS:id\"\n\
         SecRuleRemoveByMsg \"OS File Access Attempt\"\n\
         SecRuleUpdateTargetByMsg \"Remote Command Execution: Unix Command Injection\" \"!ARGS:host\"\n",
    );
    let mut rules = files(CRS3);
    rules.push(exclusions.clone());
    let reference = NginxModsecurity::start(&origin, &rules, 1);
    let fc = super::waf::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\nwaf = \"crs\"\n[waf.crs]\nrules = {}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\npath = \"/\"\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        CRS3.replace(']', &format!(", \"{exclusions}\"]")),
        origin.addr
    ));
    let reference_base = format!("http://127.0.0.1:{}", reference.port);
    let (mut differ, mut passed) = (Vec::new(), Vec::new());
    for case in ATTACKS.iter().chain(BENIGN) {
        let ours = send(&client(), case.request(&fc.url(""), "app.test")).await.status;
        let theirs = send(&client(), case.request(&reference_base, "app.test")).await.status;
        if refused(ours) != refused(theirs) && explained(case.name, refused(ours)).is_none() {
            differ.push(format!("{}: Forecourt {ours}, nginx+ModSecurity {theirs}", case.name));
        }
        if !refused(ours) && ATTACKS.iter().any(|a| a.name == case.name) {
            passed.push(case.name);
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    for excluded in ["rfi: remote include", "sqli: union select"] {
        assert!(passed.contains(&excluded), "{excluded} passes both: {passed:?}");
    }
    assert!(!passed.iter().any(|p| p.starts_with("xss:")), "a tag in another case names nothing: {passed:?}");
}
