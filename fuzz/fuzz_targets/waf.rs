//! A request through the WAF's engine with the CoreRuleSet at paranoia level 4 (every
//! rule, every transformation): the URI, headers and a body in one of the forms the
//! engine parses into arguments (urlencoded, multipart, JSON, XML, others), chosen by
//! the first byte. Nothing an attacker sends may panic the engine. `CRS_SETUP` and
//! `CRS_RULES` name the rules (Debian's CRS 3.3.4 unless set).
#![no_main]
use forecourt_seclang::ModSecurity;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn engine() -> &'static ModSecurity {
    static ENGINE: OnceLock<ModSecurity> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let setup = std::env::var("CRS_SETUP").unwrap_or_else(|_| "/etc/modsecurity/crs/crs-setup.conf".into());
        let rules = std::env::var("CRS_RULES").unwrap_or_else(|_| "/usr/share/modsecurity-crs/rules/*.conf".into());
        let text = format!(
            "SecRuleEngine On\nSecRequestBodyAccess On\n\
             SecAction \"id:99000,phase:1,pass,nolog,t:none,setvar:tx.paranoia_level=4,\
             setvar:tx.blocking_paranoia_level=4,setvar:tx.inbound_anomaly_score_threshold=5\"\n\
             Include {setup}\nInclude {rules}\n"
        );
        let engine = ModSecurity::from_string(&text).expect("the rules load");
        engine.ruleset().prepare();
        engine
    })
}

const CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "application/json",
    "text/xml",
    "application/xml",
    "text/plain",
    "multipart/form-data; boundary=\"a b\"",
    "application/octet-stream",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[which as usize % CONTENT_TYPES.len()];
    // The URI on the first line, header lines after it, the body after a blank line.
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let uri = lines.next().unwrap_or("/");
    let mut tx = engine().new_transaction();
    tx.set_client_addr("127.0.0.1", 5000);
    let _ = tx.process_uri(uri, "POST", "HTTP/1.1");
    let _ = tx.add_request_header("Host", "example.com");
    let _ = tx.add_request_header("Content-Type", content_type);
    let _ = tx.add_request_header("Content-Length", &body.len().to_string());
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let _ = tx.add_request_header(name, value.trim());
        }
    }
    let _ = tx.process_request_headers();
    let _ = tx.append_request_body(body.as_bytes());
    let _ = tx.process_request_body();
    let _ = tx.intervention();
});
