//! Tests of `transaction.rs`: rules run against requests.
use super::*;
use crate::variables::Collection;

fn make_ruleset(rules: &str) -> Arc<CompiledRuleset> {
    Arc::new(CompiledRuleset::from_string(rules).unwrap())
}

#[test]
fn test_basic_match() {
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /admin" "id:1,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/admin/dashboard", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();

    assert!(tx.has_intervention());
    let intervention = tx.intervention().unwrap();
    assert_eq!(intervention.status, 403);
}

#[test]
fn test_no_match() {
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /admin" "id:1,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/public/index.html", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();

    assert!(!tx.has_intervention());
}

#[test]
fn test_setvar() {
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /test" "id:1,phase:1,pass,setvar:TX.score=5"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/test/page", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();

    assert!(!tx.has_intervention());
    let score = tx.tx().get("score").and_then(|v| v.first().map(|s| s.to_string()));
    assert_eq!(score, Some("5".to_string()));
}

#[test]
fn test_operator_arg_macro_ge_threshold() {
    // @ge with a %{tx.*} argument must compare against the resolved value.
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /" "id:1,phase:1,pass,nolog,setvar:tx.threshold=5"
        SecRule REQUEST_URI "@contains /" "id:2,phase:1,pass,nolog,setvar:tx.score=10"
        SecRule TX:score "@ge %{tx.threshold}" "id:3,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    assert!(tx.has_intervention(), "score 10 >= threshold 5 should block");
}

#[test]
fn test_operator_arg_macro_ge_below_threshold() {
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /" "id:1,phase:1,pass,nolog,setvar:tx.threshold=5"
        SecRule REQUEST_URI "@contains /" "id:2,phase:1,pass,nolog,setvar:tx.score=3"
        SecRule TX:score "@ge %{tx.threshold}" "id:3,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    assert!(!tx.has_intervention(), "score 3 < threshold 5 should not block");
}

#[test]
fn test_negated_within_macro_does_not_block_allowed() {
    // Regression for the 911100 case: a negated @within whose argument is a
    // resolvable macro must not block when the value IS in the list.
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /" "id:1,phase:1,pass,nolog,setvar:tx.allowed=GET"
        SecRule REQUEST_METHOD "!@within %{tx.allowed}" "id:2,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    assert!(!tx.has_intervention(), "GET is allowed, must not block");
}

#[test]
fn test_negated_within_macro_blocks_disallowed() {
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /" "id:1,phase:1,pass,nolog,setvar:tx.allowed=GET"
        SecRule REQUEST_METHOD "!@within %{tx.allowed}" "id:2,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "POST", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    assert!(tx.has_intervention(), "POST is not allowed, must block");
}

#[test]
fn test_secaction_sets_tx_and_macro_resolves() {
    // CRS-style: SecAction (no variables) seeds a TX threshold that a later
    // rule's operator macro resolves against.
    let ruleset = make_ruleset(
        r#"
        SecAction "id:1,phase:1,pass,nolog,setvar:tx.threshold=5"
        SecRule REQUEST_URI "@contains /" "id:2,phase:1,pass,nolog,setvar:tx.score=10"
        SecRule TX:score "@ge %{tx.threshold}" "id:3,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    let threshold = tx.tx().get("threshold").and_then(|v| v.first().map(|s| s.to_string()));
    assert_eq!(threshold, Some("5".to_string()), "SecAction setvar must apply");
    assert!(tx.has_intervention(), "10 >= 5 should block");
}

#[test]
fn test_request_header_named_selector_matches() {
    // REQUEST_HEADERS:User-Agent must match regardless of header-name case.
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_HEADERS:User-Agent "@contains sqlmap" "id:1,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.add_request_header("User-Agent", "sqlmap/1.0").unwrap();
    tx.process_request_headers().unwrap();
    assert!(tx.has_intervention(), "User-Agent selector should match");
}

#[test]
fn test_setvar_value_macro_accumulates() {
    // CRS-style score accumulation: setvar:'tx.anomaly_score=+%{tx.critical_anomaly_score}'
    // must add the resolved delta (5), and twice must yield 10.
    let ruleset = make_ruleset(
        r#"
        SecAction "id:1,phase:1,pass,nolog,setvar:tx.critical_anomaly_score=5"
        SecRule REQUEST_URI "@contains /" "id:2,phase:1,pass,nolog,setvar:'tx.anomaly_score=+%{tx.critical_anomaly_score}'"
        SecRule REQUEST_URI "@contains /" "id:3,phase:1,pass,nolog,setvar:'tx.anomaly_score=+%{tx.critical_anomaly_score}'"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    let score = tx.tx().get("anomaly_score").and_then(|v| v.first().map(|s| s.to_string()));
    assert_eq!(score, Some("10".to_string()), "two +5 macro increments should total 10");
}

#[test]
fn test_setvar_value_macro_unresolved_is_noop() {
    // An unresolved macro delta must not silently increment by 1.
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@contains /" "id:1,phase:1,pass,nolog,setvar:'tx.anomaly_score=+%{tx.missing}'"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    let score = tx.tx().get("anomaly_score").and_then(|v| v.first().map(|s| s.to_string()));
    assert_eq!(score, Some("0".to_string()), "unresolved macro increment should be a no-op");
}

#[test]
fn test_detection_only_mode() {
    let _ruleset = make_ruleset(
        r#"
        SecRuleEngine DetectionOnly
        SecRule REQUEST_URI "@contains /admin" "id:1,phase:1,deny"
    "#,
    );
    let mut tx = Transaction::new(
        Arc::new(
            CompiledRuleset::from_string(
                r#"
            SecRuleEngine DetectionOnly
            SecRule REQUEST_URI "@contains /admin" "id:1,phase:1,deny"
        "#,
            )
            .unwrap(),
        ),
        403,
    );
    tx.process_uri("/admin/dashboard", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();

    // Should match but not block
    assert!(!tx.has_intervention());
    assert!(tx.matched_rules().contains(&"1".to_string()));
}

#[test]
fn a_chain_scores_with_its_last_links_setvar_only_when_every_link_matches() {
    // CRS 943120's shape: the starter matches an argument name, the last link checks a
    // header's absence and carries the scoring setvar.
    let ruleset = make_ruleset(
        r#"
        SecRule ARGS_NAMES "@rx ^phpsessid$" "id:943120,phase:1,pass,t:none,t:lowercase,severity:'CRITICAL',chain"
            SecRule &REQUEST_HEADERS:Referer "@eq 0" "setvar:'tx.score=+5'"
        SecRule TX:score "@ge 5" "id:949110,phase:1,deny,status:403"
    "#,
    );
    let mut without_referer = Transaction::new(ruleset.clone(), 403);
    without_referer.process_uri("/login?PHPSESSID=abc", "GET", "HTTP/1.1").unwrap();
    without_referer.process_request_headers().unwrap();
    assert!(without_referer.has_intervention(), "the chain matched: its last link's score counts");

    let mut with_referer = Transaction::new(ruleset, 403);
    with_referer.process_uri("/login?PHPSESSID=abc", "GET", "HTTP/1.1").unwrap();
    with_referer.add_request_header("Referer", "https://example.com/").unwrap();
    with_referer.process_request_headers().unwrap();
    assert!(!with_referer.has_intervention(), "the chain failed: no score");
}

#[test]
fn ctl_removes_rules_and_targets_by_tag() {
    // CRS's application exclusions and plugins: `ctl:ruleRemoveByTag` and
    // `ctl:ruleRemoveTargetByTag` in a rule that runs before the rules they change.
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_FILENAME "@beginsWith /wiki" "id:1,phase:1,pass,nolog,ctl:ruleRemoveByTag=attack-xss"
        SecRule REQUEST_FILENAME "@beginsWith /api" "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=attack-sqli;ARGS:query"
        SecRule ARGS "@contains <script" "id:941100,phase:2,deny,status:403,tag:'attack-xss'"
        SecRule ARGS "@contains union select" "id:942100,phase:2,deny,status:403,tag:'attack-sqli'"
    "#,
    );
    let run = |uri: &str| get_through_phase_2(&ruleset, uri).has_intervention();
    assert!(run("/page?x=<script>"));
    assert!(!run("/wiki/page?x=<script>"), "the tag's rules are removed on /wiki");
    assert!(!run("/api/search?query=union select"), "one target spared by tag");
    assert!(run("/api/search?other=union select"), "the others still inspected");
}

#[test]
fn startup_directives_remove_rules_and_targets_by_tag_and_msg() {
    // CRS's exclusion examples (RESPONSE-999-EXCLUSION-RULES-AFTER-CRS): each as
    // libmodsecurity 3.0.9 decides it, checked through nginx: the tag or message whole
    // and with its case, before or after the rules it names.
    let rules = r#"
        SecRule ARGS "@contains evil" "id:1,phase:2,deny,status:403,tag:'attack-sqli',msg:'Evil thing here'"
        SecAction "id:2,phase:1,pass,nolog,setvar:tx.mark=1"
        SecRule TX:mark "@eq 1" "id:3,phase:2,deny,status:403,chain"
            SecRule ARGS "@contains mark" "t:none"
    "#;
    let run = |directive: &str, uri: &str| {
        let ruleset = make_ruleset(&format!("{directive}\n{rules}"));
        get_through_phase_2(&ruleset, uri).has_intervention()
    };
    let cases = [
        ("", [true, true]),
        ("SecRuleRemoveByTag \"attack-sqli\"", [false, false]),
        ("SecRuleRemoveByTag \"attack-sql\"", [true, true]),
        ("SecRuleRemoveByTag \"ATTACK-SQLI\"", [true, true]),
        ("SecRuleRemoveByMsg \"Evil thing here\"", [false, false]),
        ("SecRuleRemoveByMsg \"Evil\"", [true, true]),
        ("SecRuleUpdateTargetByTag \"attack-sqli\" \"!ARGS:a\"", [false, true]),
        ("SecRuleUpdateTargetByTag \"attack-sql\" \"!ARGS:a\"", [true, true]),
        ("SecRuleUpdateTargetByMsg \"Evil thing here\" \"!ARGS:a\"", [false, true]),
    ];
    for (directive, [a, b]) in cases {
        assert_eq!([run(directive, "/?a=evil"), run(directive, "/?b=evil")], [a, b], "{directive}");
        let after = make_ruleset(&format!("{rules}\n{directive}"));
        assert_eq!(get_through_phase_2(&after, "/?a=evil").has_intervention(), a, "after the rules: {directive}");
    }
    // A SecAction is removed by its id as a rule is (here: the mark it sets is gone).
    assert!(run("", "/?x=mark"));
    assert!(!run("SecRuleRemoveById 2", "/?x=mark"));
    assert!(CompiledRuleset::from_string("SecRuleRemoveByTag a b").is_err(), "one argument, as libmodsecurity");
}

#[test]
fn update_action_by_id_changes_what_a_rule_does_as_the_reference_manual_says() {
    // CRS's RESPONSE-999 examples, for its blocking rule: pass, another status, a
    // redirect; before or after the rule.
    let rule = r#"SecRule ARGS "@contains evil" "id:949110,phase:2,t:lowercase,deny,status:403,msg:'Blocked'""#;
    let outcome = |update: &str, before: bool| {
        let text = if before { format!("{update}\n{rule}") } else { format!("{rule}\n{update}") };
        let tx = get_through_phase_2(&make_ruleset(&text), "/?a=EVIL");
        tx.intervention().map(|i| (i.status, i.url.clone()))
    };
    for before in [false, true] {
        assert_eq!(outcome("", before), Some((403, None)));
        assert_eq!(outcome(r#"SecRuleUpdateActionById 949110 "pass""#, before), None, "before: {before}");
        assert_eq!(outcome(r#"SecRuleUpdateActionById 949110 "t:none,deny,status:404""#, before), None, "t:none");
        assert_eq!(outcome(r#"SecRuleUpdateActionById 949110 "status:404""#, before), Some((404, None)));
        let redirect = r#"SecRuleUpdateActionById 949110 "redirect:'http://example.com/report'""#;
        assert_eq!(outcome(redirect, before), Some((302, Some("http://example.com/report".into()))));
    }
    // The redirect of CRS's example, to the host the request named.
    let update = r#"SecRuleUpdateActionById 949110 "t:none,redirect:'http://%{request_headers.host}/'""#;
    let mut tx = Transaction::new(make_ruleset(&format!("{rule}\n{update}")), 403);
    tx.process_uri("/?a=evil", "GET", "HTTP/1.1").unwrap();
    tx.add_request_header("Host", "shop.example").unwrap();
    tx.process_request_headers().unwrap();
    tx.process_request_body().unwrap();
    assert_eq!(tx.intervention().and_then(|i| i.url.clone()).as_deref(), Some("http://shop.example/"));
    // `t:none` appended ends the rule's own transformations: `EVIL` is no longer lowered.
    let tx = get_through_phase_2(
        &make_ruleset(&format!("{rule}\nSecRuleUpdateActionById 949110 \"t:none,deny,status:404\"")),
        "/?a=evil",
    );
    assert_eq!(tx.intervention().map(|i| i.status), Some(404));
    for fixed in ["id:2", "phase:1", "chain"] {
        let text = format!("{rule}\nSecRuleUpdateActionById 949110 \"{fixed}\"");
        assert!(CompiledRuleset::from_string(&text).is_err(), "{fixed}");
    }
    assert!(CompiledRuleset::from_string("SecRuleUpdateActionById 1-5 \"pass\"").is_err(), "one id");
}

#[test]
fn capture_sets_tx_0_to_9_for_the_next_link_of_a_chain() {
    // CRS 920420's shape: the starter captures the media type, the link reads TX:0.
    let ruleset = make_ruleset(
        r#"
        SecAction "id:1,phase:1,pass,nolog,setvar:'tx.allowed=|application/json| |text/xml|'"
        SecRule REQUEST_HEADERS:Content-Type "@rx ^([^;\s]+)" "id:920420,phase:1,deny,status:403,capture,t:none,chain"
            SecRule TX:0 "!@within %{tx.allowed}" "t:lowercase"
    "#,
    );
    let run = |content_type: &str| {
        let mut tx = Transaction::new(ruleset.clone(), 403);
        tx.process_uri("/", "POST", "HTTP/1.1").unwrap();
        tx.add_request_header("Content-Type", content_type).unwrap();
        tx.process_request_headers().unwrap();
        (tx.has_intervention(), tx.tx().get("1").map(|v| v[0].to_string()))
    };
    assert_eq!(run("application/json; charset=utf-8"), (false, Some("application/json".into())));
    assert!(run("text/plain").0, "a type not in the list is refused");
}

#[test]
fn a_chain_starters_setvar_is_there_for_its_link() {
    // CRS 3.3's 920420 as written: the starter sets tx.content_type from its capture,
    // the link reads it (`@within` is a substring test, as in ModSecurity).
    let ruleset = make_ruleset(
        r#"
        SecAction "id:1,phase:1,pass,nolog,setvar:'tx.allowed=|application/json| |text/xml|'"
        SecRule REQUEST_HEADERS:Content-Type "@rx ^[^;\s]+" "id:920420,phase:1,deny,status:403,capture,t:none,setvar:'tx.content_type=|%{tx.0}|',chain"
            SecRule TX:content_type "!@within %{tx.allowed}" "t:lowercase"
    "#,
    );
    let run = |content_type: &str| {
        let mut tx = Transaction::new(ruleset.clone(), 403);
        tx.process_uri("/", "POST", "HTTP/1.1").unwrap();
        tx.add_request_header("Content-Type", content_type).unwrap();
        tx.process_request_headers().unwrap();
        tx.has_intervention()
    };
    assert!(!run("application/json; charset=utf-8"));
    assert!(run("text/plain"));
    assert!(run("application/js"), "`|application/js|` is not within the list, though `application/js` is");
}

#[test]
fn a_chain_that_breaks_leaves_no_evidence_and_one_that_completes_does() {
    // CRS 920170's shape: the starter matches every GET, the link only a GET with a body.
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass,severity:'CRITICAL',chain"
            SecRule REQUEST_HEADERS:Content-Length "!@rx ^0?$" "setvar:tx.score=+5"
        SecRule REQUEST_METHOD "@streq GET" "id:2,phase:1,pass,severity:'CRITICAL',chain"
            SecRule REQUEST_HEADERS:Accept "@streq */*" "setvar:tx.score=+5"
    "#,
    );
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.add_request_header("Accept", "*/*").unwrap();
    tx.process_request_headers().unwrap();
    let ids: Vec<_> = tx.matched_data().iter().filter_map(|m| m.rule_id.clone()).collect();
    assert_eq!(ids, ["2"], "only the chain that completed");
    assert_eq!(tx.matched_data().len(), 2, "with the evidence of both its links");
    assert_eq!(tx.matched_rules(), ["2"]);
    assert_eq!(tx.tx().get("score"), Some(vec!["5"]));
}

/// CRS 921170/921180 (HTTP parameter pollution), as CRS 3.3.4 writes them: the first
/// counts each argument name through a `setvar` run once per value it matched.
const PARAMETER_POLLUTION: &str = r#"
    SecRule ARGS_NAMES "@rx ." "id:921170,phase:2,pass,nolog,setvar:'TX.paramcounter_%{MATCHED_VAR_NAME}=+1'"
    SecRule TX:/paramcounter_.*/ "@gt 1" "id:921180,phase:2,pass,severity:'CRITICAL',chain"
        SecRule MATCHED_VARS_NAMES "@rx TX:paramcounter_(.*)" "capture,setvar:'tx.score=+5'"
"#;

#[test]
fn a_rules_setvar_runs_once_for_each_value_it_matched() {
    let scores: Vec<Option<String>> = ["/?a=1&b=2", "/?a=1&a=2"]
        .iter()
        .map(|uri| {
            let mut tx = Transaction::new(make_ruleset(PARAMETER_POLLUTION), 403);
            tx.process_uri(uri, "GET", "HTTP/1.1").unwrap();
            tx.process_request_headers().unwrap();
            tx.process_request_body().unwrap();
            tx.tx().get("score").and_then(|v| v.first().map(|s| s.to_string()))
        })
        .collect();
    assert_eq!(scores, [None, Some("5".to_string())], "two names once each pass; one name twice is polluted");
}

#[test]
fn an_operator_reads_a_request_header_through_a_macro() {
    // CRS 3.3.4's 931130 (PL2): a link to another site is an RFI attempt, one to this site is not.
    let rules = r#"
        SecRule ARGS "@rx ^(?i:file|ftps?|https?)://([^/]*).*$" "id:931130,phase:2,pass,capture,setvar:'tx.rfi_parameter_%{MATCHED_VAR_NAME}=.%{tx.1}',chain"
            SecRule TX:/rfi_parameter_.*/ "!@endsWith .%{request_headers.host}" "setvar:'tx.score=+5'"
    "#;
    let score = |host: &str| {
        let mut tx = Transaction::new(make_ruleset(rules), 403);
        tx.process_uri("/login?next=https%3A%2F%2Fshop.example%2Faccount", "GET", "HTTP/1.1").unwrap();
        tx.add_request_header("Host", host).unwrap();
        tx.process_request_headers().unwrap();
        tx.process_request_body().unwrap();
        tx.tx().get("score").and_then(|v| v.first().map(|s| s.to_string()))
    };
    assert_eq!(score("shop.example"), None, "a link to this site");
    assert_eq!(score("other.example"), Some("5".to_string()), "a link elsewhere");
}

#[test]
fn a_setvar_value_expands_tx_and_the_matched_value() {
    // What the fork's unused `actions::expand_macros` promised, through the one expansion
    // the engine runs.
    let rules = r#"
        SecAction "id:1,phase:1,pass,setvar:tx.anomaly_score=25"
        SecRule ARGS "@contains script" "id:2,phase:1,pass,setvar:'tx.msg=Score is %{TX.anomaly_score}, matched %{MATCHED_VAR}'"
    "#;
    let mut tx = Transaction::new(make_ruleset(rules), 403);
    tx.process_uri("/?q=%3Cscript%3E", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    assert_eq!(tx.tx().get("msg"), Some(vec!["Score is 25, matched <script>"]));
}

/// A GET of `uri` through the request's phases (1 and 2).
fn get_through_phase_2(ruleset: &Arc<CompiledRuleset>, uri: &str) -> Transaction {
    let mut tx = Transaction::new(ruleset.clone(), 403);
    tx.process_uri(uri, "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
    tx.process_request_body().unwrap();
    tx
}

/// `GET /` through phase 1.
fn get_root(tx: &mut Transaction) {
    tx.process_uri("/", "GET", "HTTP/1.1").unwrap();
    tx.process_request_headers().unwrap();
}

#[test]
fn unique_id_and_duration_have_values_for_crs_sampling() {
    // CRS 3.3's 901410/901420 (sampling) hash UNIQUE_ID and take the last digits of
    // DURATION; both resolved to nothing, so those rules never ran.
    let ruleset = make_ruleset(
        r#"
        SecRule UNIQUE_ID "@rx ^(.+)$" "id:1,phase:1,pass,capture,setvar:tx.id=%{TX.1}"
        SecRule DURATION "@rx ^([0-9]+)$" "id:2,phase:1,pass,capture,setvar:tx.micros=%{TX.1}"
        SecRule UNIQUE_ID "@streq req-42" "id:3,phase:1,deny"
    "#,
    );
    let value = |tx: &Transaction, key: &str| tx.tx().get(key).and_then(|v| v.first().map(|s| s.to_string()));

    let (mut first, mut second) = (Transaction::new(ruleset.clone(), 403), Transaction::new(ruleset.clone(), 403));
    for tx in [&mut first, &mut second] {
        get_root(tx);
        assert!(!tx.has_intervention());
        assert!(value(tx, "micros").is_some(), "DURATION is a number of microseconds");
    }
    let (a, b) = (value(&first, "id").unwrap(), value(&second, "id").unwrap());
    assert_ne!(a, b, "each transaction has its own id");

    let mut named = Transaction::new(ruleset, 403);
    named.set_unique_id("req-42");
    get_root(&mut named);
    assert!(named.has_intervention(), "the caller's request id is UNIQUE_ID");
}

#[test]
fn ctl_audit_engine_off_is_seen_by_the_caller() {
    let ruleset = make_ruleset(
        r#"
        SecRule REMOTE_ADDR "@ipMatch 127.0.0.1" "id:905100,phase:1,pass,nolog,ctl:auditEngine=Off,ctl:forceRequestBodyVariable=On"
    "#,
    );
    let mut local = Transaction::new(ruleset.clone(), 403);
    local.set_client_addr("127.0.0.1", 0);
    get_root(&mut local);
    assert!(local.audit_off());

    let mut other = Transaction::new(ruleset, 403);
    other.set_client_addr("192.0.2.1", 0);
    get_root(&mut other);
    assert!(!other.audit_off());
}

#[test]
fn uploads_have_sizes_for_crs_920410() {
    // CRS's 920410 refuses uploads whose combined size passes tx.combined_file_sizes.
    let ruleset = make_ruleset(
        r#"
        SecAction "id:900200,phase:1,pass,nolog,setvar:tx.combined_file_sizes=10"
        SecRule FILES_SIZES:b "@eq 4" "id:1,phase:2,pass,setvar:tx.b_seen=1"
        SecRule &TX:COMBINED_FILE_SIZES "@eq 1" "id:920410,phase:2,deny,chain"
            SecRule FILES_COMBINED_SIZE "@gt %{tx.combined_file_sizes}" "t:none"
    "#,
    );
    let upload = |first: &[u8]| {
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.bin\"\r\n\r\n".to_vec();
        body.extend_from_slice(first);
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.txt\"\r\n\r\nfour\r\n--XyZ\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\nnot a file, not counted\r\n--XyZ--\r\n");
        multipart_upload(&ruleset, body)
    };
    let within = upload(&[0xff; 6]);
    assert!(!within.has_intervention(), "6 + 4 bytes: not over 10");
    assert!(within.tx().get("b_seen").is_some());
    assert!(upload(&[0xff; 7]).has_intervention(), "7 + 4 bytes: over 10, counted in bytes");
}

#[test]
fn a_rules_status_is_its_answers() {
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_URI "@beginsWith /teapot" "id:1,phase:1,deny,status:418"
        SecRule REQUEST_URI "@beginsWith /moved" "id:2,phase:1,status:301,redirect:https://example.com/"
        SecRule REQUEST_URI "@beginsWith /odd" "id:3,phase:1,redirect:https://example.com/,status:404"
        SecRule REQUEST_URI "@beginsWith /plain" "id:4,phase:1,deny"
    "#,
    );
    let answer = |path: &str| {
        let tx = get_through_phase_2(&ruleset, path);
        let i = tx.intervention().unwrap();
        (i.status, i.url.clone())
    };
    assert_eq!(answer("/teapot"), (418, None));
    assert_eq!(answer("/moved"), (301, Some("https://example.com/".to_string())));
    assert_eq!(answer("/odd"), (302, Some("https://example.com/".to_string())), "not a redirection's status");
    assert_eq!(answer("/plain"), (403, None));
}

#[test]
fn multi_match_tests_the_value_before_each_transformation_and_scores_each_match() {
    // CRS 930110's shape: `t:cmdLine` drops backslashes, so `..\boot.ini` only shows its
    // traversal in the value as it came; ModSecurity's multiMatch tests that too, and runs
    // the rule's setvar once for every stage that matched.
    let rules = |flag: &str| {
        make_ruleset(&format!(
            r#"SecRule ARGS "@rx (?:^|[\\/])\.\.(?:[\\/]|$)" "id:930110,phase:1,pass,t:none,t:urlDecodeUni,t:cmdLine,{flag}setvar:'tx.score=+5'""#
        ))
    };
    let score_of = |ruleset, query: &str| {
        let mut tx = Transaction::new(ruleset, 403);
        tx.process_uri(&format!("/?f={query}"), "GET", "HTTP/1.1").unwrap();
        tx.process_request_headers().unwrap();
        tx.tx().get("score").and_then(|v| v.first().map(|s| s.to_string()))
    };
    assert_eq!(score_of(rules(""), "..%5Cboot.ini"), None, "without multiMatch only the last value is tested");
    assert_eq!(score_of(rules("multiMatch,"), "..%5Cboot.ini"), Some("5".into()), "the value as it came");
    // `%255C`: the argument is `..%5C/x` (no match), urlDecodeUni makes it `..\/x` and
    // cmdLine `../x`: two stages match, two setvars.
    assert_eq!(score_of(rules("multiMatch,"), "..%255C/x"), Some("10".into()));
    assert_eq!(score_of(rules("multiMatch,"), "boot.ini"), None);
}

/// CRS 4.28's 922150 and 922110 (PL1): a multipart part's `Content-Type` charset must be one
/// CRS allows. 922110 selects `TX:/MULTIPART_HEADERS_CONTENT_TYPES_*/`, upper case, where
/// the keys are stored lower case: ModSecurity compiles a selection's regex ignoring case.
#[test]
fn a_selection_regex_ignores_case_as_modsecurity_s_does() {
    let ruleset = make_ruleset(
        r#"
        SecRule MULTIPART_PART_HEADERS "@rx ^content-type\s*:\s*(.*)$" "id:922150,phase:2,pass,capture,t:none,t:lowercase,nolog,setvar:'tx.multipart_headers_content_types_%{tx.multipart_headers_content_counter}=%{tx.1}',setvar:'tx.multipart_headers_content_counter=+1'"
        SecRule TX:/MULTIPART_HEADERS_CONTENT_TYPES_*/ "!@rx ^(?:(?:\*|[^!\"\(\),/:-\?\[-\]\{\}]+)/(?:\*|[^!\"\(\),/:-\?\[-\]\{\}]+)|\*)(?:[\s\x0b]*;[\s\x0b]*(?:charset[\s\x0b]*=[\s\x0b]*\"?(?:iso-8859-15?|utf-8|windows-1252)\b\"?|(?:[^\s\x0b-\"\(\),/:-\?\[-\]c\{\}]|c(?:[^!\"\(\),/:-\?\[-\]h\{\}]|h(?:[^!\"\(\),/:-\?\[-\]a\{\}]|a(?:[^!\"\(\),/:-\?\[-\]r\{\}]|r(?:[^!\"\(\),/:-\?\[-\]s\{\}]|s(?:[^!\"\(\),/:-\?\[-\]e\{\}]|e[^!\"\(\),/:-\?\[-\]t\{\}]))))))[^!\"\(\),/:-\?\[-\]\{\}]*[\s\x0b]*=[\s\x0b]*[^!\(\),/:-\?\[-\]\{\}]+);?)*$" "id:922110,phase:2,deny,capture,t:none,t:lowercase"
    "#,
    );
    let refused = |charset: &str| {
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Type: text/plain; charset={charset}\r\n\r\nhi\r\n--XyZ--\r\n"
        );
        multipart_upload(&ruleset, body.into_bytes()).has_intervention()
    };
    assert!(!refused("utf-8"));
    assert!(!refused("ISO-8859-1"));
    assert!(refused("utf-7"), "an encoding CRS does not allow");
}

/// A POST of `body` as multipart with the boundary `XyZ`, through both request phases.
fn multipart_upload(ruleset: &Arc<CompiledRuleset>, body: Vec<u8>) -> Transaction {
    let mut tx = Transaction::new(ruleset.clone(), 403);
    tx.process_uri("/upload", "POST", "HTTP/1.1").unwrap();
    tx.add_request_header("Content-Type", "multipart/form-data; boundary=XyZ").unwrap();
    tx.process_request_headers().unwrap();
    tx.set_request_body(bytes::Bytes::from(body));
    tx.process_request_body().unwrap();
    tx
}

#[test]
fn validate_utf8_encoding_judges_the_bytes_that_came_not_the_text_rules_see() {
    // CRS 920250's shape (its variables, t:none). The answers are libmodsecurity 3.0.9's for
    // the same requests (CRS 3.3.4's regression tests 920220-2, 920270-1, 920272-2).
    let ruleset = make_ruleset(
        r#"
        SecRule REQUEST_FILENAME|ARGS|ARGS_NAMES "@validateUtf8Encoding" "id:920250,phase:2,deny,status:403,t:none"
    "#,
    );
    let run = |target: &str, body: &[u8]| {
        let mut tx = Transaction::new(ruleset.clone(), 403);
        tx.process_uri(target, "POST", "HTTP/1.1").unwrap();
        tx.add_request_header("Content-Type", "application/x-www-form-urlencoded").unwrap();
        tx.process_request_headers().unwrap();
        tx.append_request_body(body).unwrap();
        tx.process_request_body().unwrap();
        tx.has_intervention()
    };
    assert!(run("/?x=xyz%20%99", b""), "a lone continuation byte");
    assert!(run("/?test=test1%80", b""));
    assert!(run("/?a=..%c0%af", b""), "an overlong `/`, though the rules read it as `/`");
    assert!(run("/%ff/index.html", b""), "in the path");
    assert!(run("/?%9cscript=1", b""), "in a name");
    assert!(run("/", b"test=\xac\xed\x00\x05"), "raw in a form body");
    assert!(run("/", b"a=%e9t%e9"), "Latin-1, escaped in a form body");
    assert!(!run("/?test%00=test1", b""), "NUL is UTF-8");
    assert!(!run("/caf%C3%A9?q=%E6%9D%B1%E4%BA%AC+%F0%9F%8D%95", b"name=Ren%C3%A9e&x=\xc3\xa9"), "UTF-8 everywhere");
}

#[test]
fn rx_searches_the_bytes_a_value_came_as_when_they_were_not_utf8() {
    // CRS 944200 as written (its variables, no transformation), and 930100's traversal
    // with t:urlDecodeUni. The answers are libmodsecurity 3.0.9's for CRS 3.3.4's
    // regression tests 944200-1 and 944200-0FP, but for the overlong `/`, which only
    // Forecourt reads.
    let ruleset = make_ruleset(
        r#"
        SecRule ARGS|ARGS_NAMES|REQUEST_BODY "@rx \xac\xed\x00\x05" "id:944200,phase:2,deny,status:403"
        SecRule ARGS "@rx \.\./" "id:930100,phase:2,deny,status:403,t:urlDecodeUni"
    "#,
    );
    let run = |target: &str, content_type: &str, body: &[u8]| {
        let mut tx = Transaction::new(ruleset.clone(), 403);
        tx.process_uri(target, "POST", "HTTP/1.1").unwrap();
        tx.add_request_header("Content-Type", content_type).unwrap();
        tx.process_request_headers().unwrap();
        tx.append_request_body(body).unwrap();
        tx.process_request_body().unwrap();
        tx.has_intervention()
    };
    let form = "application/x-www-form-urlencoded";
    assert!(run("/", form, b"test=\xac\xed\x00\x05"), "raw in a form body");
    assert!(run("/?test=%AC%ED%00%05", form, b""), "escaped in the query");
    assert!(run("/", "application/octet-stream", b"\xac\xed\x00\x05sr\x00"), "the body as it came");
    assert!(!run("/", form, b"test=\xc2\xac\xc3\xad\x00\x05"), "the same characters in UTF-8");
    assert!(!run("/?test=%AC%ED%00%06", form, b""), "other bytes");
    assert!(run("/?a=..%c0%af..%c0%afetc", form, b""), "the text still finds an overlong `/`");
}

#[test]
fn the_budget_counts_the_rules_cpu_time_not_the_time_around_them() {
    // 64 rules (the budget is looked at every eighth), each a scan of one long argument.
    let rules: String =
        (1..=64).map(|i| format!("SecRule ARGS \"@rx (?:a|b)+c\" \"id:{i},phase:2,pass,nolog\"\n")).collect();
    let ruleset = make_ruleset(&rules);
    let long = format!("/?q={}", "a".repeat(200_000));
    let mut tx = Transaction::new(ruleset.clone(), 403);
    tx.process_uri(&long, "GET", "HTTP/1.1").unwrap();
    tx.set_budget(std::time::Duration::from_millis(1));
    tx.process_request_headers().unwrap();
    tx.process_request_body().unwrap();
    assert!(tx.out_of_time(), "64 scans of 200,000 bytes in a millisecond");

    // A short request whose thread is off the CPU for twice its budget before the rules
    // run (a busy machine): nothing of the budget is spent by that, and the rules all run
    // (a wall-clock deadline had passed before the first).
    let mut tx = Transaction::new(ruleset, 403);
    tx.process_uri("/?q=hello", "GET", "HTTP/1.1").unwrap();
    tx.set_budget(std::time::Duration::from_millis(30));
    std::thread::sleep(std::time::Duration::from_millis(60));
    tx.process_request_headers().unwrap();
    tx.process_request_body().unwrap();
    assert!(!tx.out_of_time());
    assert!(tx.budget_left().unwrap() > std::time::Duration::ZERO);
}
