//! Config diagnostics, in process: a text compiled with `compile`, the diagnostics it gives
//! (position, message, hint), and what the chains come out as. (`forecourt check` prints
//! these same diagnostics; `crates/forecourt/tests/cli.rs` runs it on files.)
use super::compile;
use crate::Diagnostic;
use forecourt_proxy::{ProcessState, Runtime};

const BASE: &str = "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:8080\"\n\
                    [[route]]\nupstream = \"app\"\n[upstream.app]\nservers = [\"127.0.0.1:3000\"]\n";

fn errors(text: &str) -> Vec<Diagnostic> {
    match compile("t.toml", text, &ProcessState::new()) {
        Ok(_) => panic!("compiled:\n{text}"),
        Err(errors) => errors,
    }
}

fn runtime(text: &str) -> Runtime {
    compile("t.toml", text, &ProcessState::new()).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// The route's chain in its one-line form.
fn chain_of(rt: &Runtime, route: usize) -> Vec<String> {
    rt.router.routes()[route].chain.describe().iter().map(|f| f.label()).collect()
}

#[test]
fn a_bad_value_inside_an_upstream_is_reported_alone() {
    let text = format!("{BASE}[upstream.app.health]\ninterval = \"soon\"\n");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].col), (11, 12), "{}", errors[0]);
    assert!(errors[0].message.contains("bad duration `soon`"), "{}", errors[0]);
}

#[test]
fn an_unknown_upstream_gets_the_closest_name() {
    let errors = errors(&BASE.replace("upstream = \"app\"", "upstream = \"apq\""));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "t.toml:7:12: route `route#1` names unknown upstream `apq`\n  hint: did you mean `app`?"
    );
}

#[test]
fn every_mistake_of_a_route_is_reported_at_once() {
    let text = BASE.replace("[[route]]\n", "[[route]]\npath = \"nope\"\nmax_body = \"lots\"\nhsts = \"soon\"\n");
    let errors = errors(&text);
    let messages: Vec<String> = errors.iter().map(|e| format!("{}:{} {}", e.line, e.col, e.message)).collect();
    assert_eq!(errors.len(), 3, "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("7:8 path `nope` must start with `/`")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("8:12 bad size `lots`")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("`soon` is not a Strict-Transport-Security value")), "{messages:?}");
}

#[test]
fn a_mirror_needs_a_forwarding_route() {
    let text = BASE.replace(
        "[[route]]\nupstream = \"app\"\n",
        "[[route]]\nrespond = { body = \"x\" }\nmirror = { upstream = \"app\" }\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("mirrors but does not forward"), "{}", errors[0]);
}

#[test]
fn request_buffer_comes_from_the_route_then_the_global_limit_then_64k() {
    let buffer = |rt: &Runtime, route: usize| match &rt.router.routes()[route].action {
        forecourt_proxy::action::Action::Forward(forward) => forward.buffer,
        _ => panic!("route {route} does not forward"),
    };
    let rt = runtime(
        &BASE.replace("[[route]]\n", "[[route]]\npath = \"/up/\"\nupstream = \"app\"\nrequest_buffer = 0\n[[route]]\n"),
    );
    assert_eq!((buffer(&rt, 0), buffer(&rt, 1)), (0, 64 * 1024));
    let rt = runtime(&format!("{BASE}[global.limits]\nrequest_buffer = \"1m\"\n"));
    assert_eq!(buffer(&rt, 0), 1 << 20);
    let text =
        BASE.replace("upstream = \"app\"\n[upstream", "respond = { body = \"x\" }\nrequest_buffer = \"4k\"\n[upstream");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].to_string(), "t.toml:8:18: route `route#1` sets request_buffer but does not forward");
}

#[test]
fn chains_are_built_in_the_documented_order() {
    let text = format!(
        "{}\n[global.limits]\nmax_body = \"10m\"\n",
        BASE.replace(
            "[[route]]\nupstream = \"app\"\n",
            "[[route]]\nupstream = \"app\"\nstrip_prefix = \"/api\"\nhttps_redirect = true\nhsts = \"max-age=60\"\n\
             request_headers = { set = { X-A = \"1\" } }\nresponse_headers = { set = { Server = \"edge\" } }\n\
             mirror = { upstream = \"app\", percent = 5 }\nnoop_filters = 2\n[[route]]\npath = \"/r\"\n\
             respond = { body = \"x\" }\n",
        )
    );
    let rt = runtime(&text);
    assert_eq!(
        chain_of(&rt, 0),
        [
            "strip_prefix(/api)",
            "request_headers",
            "hide_response_headers",
            "response_headers",
            "hsts",
            "https_redirect",
            "max_body(10m)",
            "noop",
            "noop",
            "mirror(app)"
        ]
    );
    let hidden = &rt.router.routes()[0].chain.describe()[2];
    assert_eq!(hidden.params, [("names", "x-powered-by".to_string())], "the route's own Server is not hidden");
    assert_eq!(chain_of(&rt, 1), ["max_body(10m)"], "a route that answers hides nothing upstream");
    let front: Vec<String> = rt.front.describe().iter().map(|f| f.label()).collect();
    assert_eq!(front, ["uri_length", "acme_challenge"], "no TLS listener: no 421 check");
}

#[test]
fn redis_is_one_server_or_a_cluster() {
    let cases = [
        ("[redis]\ntimeout = \"50ms\"\n", (10, 1), "says neither `url` nor `cluster`"),
        ("[redis]\nurl = \"redis://a:6379\"\ncluster = [\"redis://b:7000\"]\n", (12, 11), "exclude each other"),
        ("[redis]\ncluster = []\n", (11, 11), "names no node"),
        ("[redis]\ncluster = [\"redis://b:7000\", \"http://c:7000\"]\n", (11, 11), "bad Redis URL http://c:7000"),
    ];
    for (table, at, message) in cases {
        let errors = errors(&format!("{BASE}{table}"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].col), at, "{}", errors[0]);
        assert!(errors[0].message.contains(message), "{}", errors[0]);
    }
    // Seeds that do not answer yet are no error: the cluster is looked for in the background.
    runtime(&format!("{BASE}[redis]\ncluster = [\"redis://127.0.0.1:1\", \"redis://127.0.0.1:2\"]\n"));
}

#[test]
fn waf_mistakes_are_reported_where_they_stand() {
    let cases = [
        ("[waf.x]\nrules = []\n", (11, 9), "names no rules"),
        ("[waf.x]\nrules = [\"/nonexistent/*.conf\"]\n", (11, 9), "`/nonexistent/*.conf` names no rule file"),
        ("[waf.x]\nrules = [\"/r.conf\"]\nmode = \"loud\"\n", (12, 8), "unknown value `loud`"),
        ("[waf.x]\nrules = [\"/r.conf\"]\nparanoia_level = 9\n", (12, 18), "between 1 and 4"),
        ("[waf.x]\nrules = [\"/r.conf\"]\nexclusions = [{ rule = \"abc\" }]\n", (12, 24), "bad rule id"),
        (
            "[waf.x]\nrules = [\"/r.conf\"]\nexclusions = [{ rule = 1, path = \"/a\", remove = true }]\n",
            (12, 34),
            "everywhere",
        ),
        ("[waf.x]\nrules = [\"/r.conf\"]\nexclusions = [{ tag = \"attack sqli\" }]\n", (12, 23), "a tag has no spaces"),
        ("[waf.x]\nrules = [\"/r.conf\"]\nexclusions = [{ rule = 1, tag = \"a\" }]\n", (12, 33), "not both"),
        (
            "[waf.x]\nrules = [\"/r.conf\"]\nexclusions = [{ path = \"/a\" }]\n",
            (12, 15),
            "`rule` (an id or a range) or `tag`",
        ),
    ];
    for (table, at, message) in cases {
        let errors = errors(&format!("{BASE}{table}"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].col), at, "{}", errors[0]);
        assert!(errors[0].message.contains(message), "{}", errors[0]);
    }
    let unknown = errors(&BASE.replace("upstream = \"app\"\n", "upstream = \"app\"\nwaf = \"nope\"\n"));
    assert_eq!((unknown[0].line, unknown[0].col), (8, 7), "{}", unknown[0]);
    assert!(unknown[0].message.contains("unknown WAF policy `nope`"), "{}", unknown[0]);
}

#[test]
fn a_route_without_an_action_or_a_name_is_pointed_at_by_its_header() {
    let errors = errors(&format!("{BASE}  [[ route ]] # the second\nmethods = [\"GET\"]\n"));
    assert_eq!((errors[0].line, errors[0].col), (10, 3), "{}", errors[0]);
    assert!(errors[0].message.contains("route `route#2` does nothing"), "{}", errors[0]);
}

#[test]
fn values_past_what_the_proxy_can_hold_are_refused_where_they_stand() {
    // A duration within `Duration`'s range that a clock reading plus it overflows: it
    // compiled, and the first request's deadline panicked the worker.
    let text = format!("{BASE}[global.timeouts]\nkeepalive = \"150000000000000d\"\n");
    let errors = errors(&text);
    assert_eq!((errors[0].line, errors[0].col), (11, 13), "{}", errors[0]);
    assert!(errors[0].message.contains("at most 3650d"), "{}", errors[0]);
    // Two thousand million no-op filters: the reload that compiled them took every byte.
    let text = BASE.replace("upstream = \"app\"\n", "upstream = \"app\"\nnoop_filters = 2147483647\n");
    let errors = self::errors(&text);
    assert_eq!((errors[0].line, errors[0].col), (8, 16), "{}", errors[0]);
    assert!(errors[0].message.contains("between 0 and 1000"), "{}", errors[0]);
    // A health check every 0s: its probe loop panicked (tokio's interval takes no zero).
    let errors = self::errors(&format!("{BASE}[upstream.app.health]\ninterval = \"0s\"\n"));
    assert_eq!((errors[0].line, errors[0].col), (11, 12), "{}", errors[0]);
    assert!(errors[0].message.contains("longer than zero"), "{}", errors[0]);
    // One of 100 ns (a slip of the unit): its probes kept a core busy with no traffic.
    let errors = self::errors(&format!("{BASE}[upstream.app.health]\ninterval = \"0.0000001s\"\n"));
    assert_eq!((errors[0].line, errors[0].col), (11, 12), "{}", errors[0]);
    assert!(errors[0].message.contains("at least 100ms"), "{}", errors[0]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    runtime(&format!("{BASE}[upstream.app.health]\ninterval = \"100ms\"\n"));
}

#[test]
fn data_dir_holds_automatic_certificates_unless_tls_storage_says_elsewhere() {
    let dir = std::env::temp_dir().join(format!("fc-config-data-dir-{}", std::process::id()));
    let file = dir.join("t.toml");
    let text = "[global]\nadmin = \"off\"\naccess_log = \"off\"\ndata_dir = \"state\"\n[[listen]]\n\
                addr = \"127.0.0.1:8443\"\ntls = true\n[[route]]\nhosts = [\"app.localhost\"]\nrespond = { status = 200 }\n";
    let storage = |text: &str| {
        let rt = compile(file.to_str().unwrap(), text, &ProcessState::new()).unwrap_or_else(|e| panic!("{e:?}"));
        rt.tls.expect("a TLS listener").auto.storage
    };
    assert_eq!(storage(text), dir.join("state"), "relative to the config's folder");
    assert_eq!(storage(&format!("{text}[tls]\nstorage = \"certs\"\n")), dir.join("certs"));
}

#[test]
fn the_access_log_and_pid_file_are_found_from_the_config_files_folder() {
    let dir = std::env::temp_dir().join(format!("fc-config-paths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.toml");
    let text = BASE.replace("access_log = \"off\"", "access_log = \"requests.log\"\npid_file = \"fc.pid\"");
    let rt = compile(file.to_str().unwrap(), &text, &ProcessState::new()).unwrap();
    assert!(dir.join("requests.log").exists(), "opened beside the config");
    assert_eq!(rt.pid_file.as_deref(), dir.join("fc.pid").to_str());
    // One it cannot open is reported at its value.
    let text = BASE.replace("access_log = \"off\"", "access_log = \"no/such/folder/requests.log\"");
    let Err(errors) = compile(file.to_str().unwrap(), &text, &ProcessState::new()) else { panic!("compiled") };
    assert_eq!((errors[0].line, errors[0].col), (3, 14), "{}", errors[0]);
    assert!(errors[0].message.contains("cannot open access_log"), "{}", errors[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn route_lifetimes_name_statuses_a_response_is_stored_with() {
    let with = |ttl: &str| {
        BASE.replace("upstream = \"app\"\n", &format!("upstream = \"app\"\ncache = {{ default_ttl = {ttl} }}\n"))
    };
    let default_ttl = |text: &str| {
        let rt = runtime(&with(text));
        let cache = rt.router.routes()[0].chain.describe().into_iter().find(|f| f.kind == "cache").unwrap();
        cache.params.into_iter().find(|(name, _)| *name == "default_ttl").map(|(_, value)| value)
    };
    assert_eq!(default_ttl("{ 200 = \"10m\", 404 = \"1m\", any = \"5s\" }").unwrap(), "200=600s 404=60s any=5s");
    assert_eq!(default_ttl("\"1m\"").unwrap(), "60s");
    let capped = runtime(&BASE.replace("upstream = \"app\"\n", "upstream = \"app\"\ncache = { max_ttl = \"1h\" }\n"));
    let cache = capped.router.routes()[0].chain.describe().into_iter().find(|f| f.kind == "cache").unwrap();
    assert!(cache.params.contains(&("max_ttl", "3600s".to_string())), "{:?}", cache.params);
    let forced = runtime(
        &BASE.replace("upstream = \"app\"\n", "upstream = \"app\"\ncache = { override_ttl = { any = \"10s\" } }\n"),
    );
    let cache = forced.router.routes()[0].chain.describe().into_iter().find(|f| f.kind == "cache").unwrap();
    assert!(cache.params.contains(&("override_ttl", "any=10s".to_string())), "{:?}", cache.params);
    let bad = errors(
        &BASE.replace("upstream = \"app\"\n", "upstream = \"app\"\ncache = { override_ttl = { 304 = \"1m\" } }\n"),
    );
    assert!(bad[0].message.contains("`304` is not a status"), "{}", bad[0]);
    for (ttl, col, message) in [
        ("{ 200 = \"10m\", 304 = \"1m\" }", 40, "`304` is not a status a response is stored with"),
        ("{ 206 = \"1m\" }", 27, "`206` is not"),
        ("{ \"2xx\" = \"1m\" }", 27, "`2xx` is not"),
        ("{ 600 = \"1m\" }", 27, "`600` is not"),
        ("{ 404 = \"soon\" }", 33, "bad duration `soon`"),
        ("\"soon\"", 25, "bad duration `soon`"),
        ("5", 25, "a duration (\"1m\"), or a table of durations by status"),
    ] {
        let errors = errors(&with(ttl));
        assert_eq!(errors.len(), 1, "{ttl}: {errors:?}");
        assert_eq!((errors[0].line, errors[0].col), (8, col), "{ttl}: {}", errors[0]);
        assert!(errors[0].message.contains(message), "{ttl}: {}", errors[0]);
    }
}

#[test]
fn non_ascii_targets_are_refused_unless_escaping_is_asked_for() {
    use forecourt_proxy::NonAsciiTargets;
    assert_eq!(runtime(BASE).settings.client.non_ascii_targets, NonAsciiTargets::Refuse);
    let asked = |value: &str| format!("{BASE}[global.limits]\nnon_ascii_targets = \"{value}\"\n");
    assert_eq!(runtime(&asked("escape")).settings.client.non_ascii_targets, NonAsciiTargets::Escape);
    assert_eq!(runtime(&asked("refuse")).settings.client.non_ascii_targets, NonAsciiTargets::Refuse);
    let errors = errors(&asked("utf8"));
    assert_eq!((errors[0].line, errors[0].col), (11, 21), "{}", errors[0]);
    assert!(errors[0].message.contains("unknown non_ascii_targets `utf8`"), "{}", errors[0]);
    assert!(errors[0].hint.as_deref().is_some_and(|h| h.contains("\"escape\"")), "{:?}", errors[0].hint);
}

#[test]
fn the_admin_endpoint_may_not_take_a_listeners_port() {
    let with_admin = |admin: &str| BASE.replace("admin = \"off\"", admin);
    let named = errors(&with_admin("admin = \"127.0.0.1:8080\""));
    assert_eq!(named.len(), 1, "{named:?}");
    let e = &named[0];
    assert_eq!((e.line, e.col), (2, 9), "at `admin`: {e}");
    assert!(e.message.contains("127.0.0.1:8080 is [[listen]]'s 127.0.0.1:8080 too"), "{e}");
    // The default admin address, which no line names, is reported at the listener's.
    let text = with_admin("").replace("127.0.0.1:8080", "0.0.0.0:9901");
    let default_clash = errors(&text);
    assert_eq!(default_clash.len(), 1, "{default_clash:?}");
    let e = &default_clash[0];
    assert_eq!((e.line, e.col), (5, 8), "at the listener's `addr`: {e}");
    assert!(e.message.contains("127.0.0.1:9901 is [[listen]]'s 0.0.0.0:9901 too"), "{e}");
    // IPv6's all-addresses socket is dual-stack: it takes IPv4's port too, either way round.
    let dual =
        errors(&with_admin("admin = \"127.0.0.1:8080\"").replace("addr = \"127.0.0.1:8080\"", "addr = \"[::]:8080\""));
    assert_eq!(dual.len(), 1, "{dual:?}");
    assert!(dual[0].message.contains("127.0.0.1:8080 is [[listen]]'s [::]:8080 too"), "{}", dual[0]);
    let dual = errors(&with_admin("admin = \"[::]:8080\""));
    assert!(dual[0].message.contains("[::]:8080 is [[listen]]'s 127.0.0.1:8080 too"), "{}", dual[0]);
    // Another port, or IPv4's all-addresses socket beside an IPv6 address, is no clash.
    runtime(&with_admin("admin = \"127.0.0.1:8081\""));
    runtime(&with_admin("admin = \"[::1]:8080\"").replace("127.0.0.1:8080", "0.0.0.0:8080"));
}

#[test]
fn a_taken_port_refuses_the_config_at_its_address_before_the_commit() {
    use super::{compile_to_serve, Listening};
    let taken = |addr: std::net::SocketAddr, listening: Listening| match (addr.port(), listening) {
        (9901, Listening::Admin) | (8080, Listening::Requests) => Err("Address already in use".to_string()),
        _ => Ok(()),
    };
    let text = BASE.replace("admin = \"off\"\n", "");
    let errors = compile_to_serve("t.toml", &text, &ProcessState::new(), &taken).err().expect("refused");
    let at: Vec<_> = errors.iter().map(|e| (e.line, e.col, e.message.as_str())).collect();
    assert_eq!(
        at,
        [
            (4, 8, "cannot listen on 127.0.0.1:8080: Address already in use"),
            (1, 1, "cannot listen on admin address 127.0.0.1:9901: Address already in use (the default)"),
        ],
        "{errors:?}"
    );
}
