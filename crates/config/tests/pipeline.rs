//! The request pipeline, in process: a worker over a runtime compiled from a config, and
//! requests handed to `pipeline::handle` directly (no listener, no client). The filters
//! here are written only against the public contract (`forecourt_proxy::filter`), from
//! another crate: what a capability of its own crate (a cache, a WAF) has to work with.
//! Each test pins an invariant of `crates/proxy/src/pipeline/LIFECYCLE.md`.
use arc_swap::ArcSwap;
use bytes::Bytes;
use forecourt_proxy::action::Action;
use forecourt_proxy::body::{IncomingBody, ProxyBody};
use forecourt_proxy::conn::Conn;
use forecourt_proxy::filter::{
    BodyNeed, Chain, Decision, Filter, FilterInfo, InspectedBody, OutgoingBody, Phases, RequestCtx, Verdict, Waiting,
};
use forecourt_proxy::forward::{Forward, Target};
use forecourt_proxy::pipeline::handle;
use forecourt_proxy::route::{PathPattern, Route};
use forecourt_proxy::router::Router;
use forecourt_proxy::worker::Worker;
use forecourt_proxy::{ProcessState, Runtime};
use http::{request, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What the filters of one test saw, in order: "name:phase".
type Journal = Arc<Mutex<Vec<String>>>;

/// A filter that notes each phase it runs in, and may answer in its request phase.
struct Noting {
    name: &'static str,
    journal: Journal,
    answers: Option<StatusCode>,
}

impl Noting {
    fn boxed(name: &'static str, journal: &Journal, answers: Option<StatusCode>) -> Box<dyn Filter> {
        Box::new(Noting { name, journal: journal.clone(), answers })
    }

    fn note(&self, phase: &str) {
        self.journal.lock().unwrap().push(format!("{}:{phase}", self.name));
    }
}

impl Filter for Noting {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("noting", Phases::REQUEST.and(Phases::UPSTREAM).and(Phases::RESPONSE))
    }

    fn on_request(&self, _: &mut request::Parts, _: &mut RequestCtx<'_>) -> Decision {
        self.note("request");
        match self.answers {
            Some(status) => Decision::answer(Response::builder().status(status).body(ProxyBody::empty()).unwrap()),
            None => Decision::Continue,
        }
    }

    fn on_upstream_request(&self, _: &mut request::Parts, _: OutgoingBody<'_>, _: &mut RequestCtx<'_>) {
        self.note("upstream");
    }

    fn on_response(&self, _: &mut Response<ProxyBody>, _: &mut RequestCtx<'_>) {
        self.note("response");
    }
}

/// The capability-in-another-crate filter: it waits on a timer before letting a request
/// through, adds a field to the access log, and wraps the response body.
struct Delayed {
    wait: Duration,
}

/// What `Delayed` hands from its request phase to its response phases.
struct WaitedFor(Duration);

impl Filter for Delayed {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("delayed", Phases::REQUEST.and(Phases::RESPONSE).and(Phases::RESPONSE_BODY))
            .param("wait_ms", self.wait.as_millis().to_string())
    }

    fn on_request(&self, _: &mut request::Parts, _: &mut RequestCtx<'_>) -> Decision {
        Decision::Wait
    }

    fn wait<'a>(&'a self, _: &'a mut request::Parts, cx: &'a mut RequestCtx<'_>) -> Waiting<'a> {
        Box::pin(async move {
            let started = Instant::now();
            tokio::time::sleep(self.wait).await;
            cx.insert(WaitedFor(started.elapsed()));
            Verdict::Continue
        })
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        let waited = cx.get::<WaitedFor>().map_or(0, |w| w.0.as_millis());
        cx.log("waited_ms", waited.to_string());
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    }

    fn on_response_body(&self, body: &mut ProxyBody, _: &mut RequestCtx<'_>) {
        body.wrap_with(|inner| Shout { inner, done: false });
    }
}

/// A body that passes its data on in capitals, then adds `!`.
struct Shout {
    inner: ProxyBody,
    done: bool,
}

impl http_body::Body for Shout {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame.map_data(|d| d.to_ascii_uppercase().into())))),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"!")))))
            }
            other => other,
        }
    }
}

/// A body inspector: refuses requests whose first bytes say `evil`.
struct Inspector {
    bound: u64,
    seen: Arc<Mutex<Vec<(Bytes, bool)>>>,
}

impl Filter for Inspector {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("inspector", Phases::REQUEST_BODY)
    }

    fn body_need(&self) -> BodyNeed {
        BodyNeed::Inspect(self.bound)
    }

    fn on_request_body(&self, _: &request::Parts, body: &InspectedBody, cx: &mut RequestCtx<'_>) -> Decision {
        self.seen.lock().unwrap().push((body.bytes.clone(), body.complete));
        if body.bytes.windows(4).any(|w| w == b"evil") {
            return Decision::answer(cx.answer(forecourt_proxy::answers::Reason::BadRequest));
        }
        Decision::Continue
    }
}

/// Raises the body inspection bound to `to` for requests that carry `x-upload` (as the
/// WAF does for multipart uploads).
struct Raiser {
    to: u64,
}

impl Filter for Raiser {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("raiser", Phases::REQUEST)
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if head.headers.contains_key("x-upload") {
            cx.inspect_body_up_to(self.to);
        }
        Decision::Continue
    }
}

/// A config with one plain listener, an access log in `log`, and an upstream nobody listens on.
fn config(log: &str) -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    format!(
        "[global]\nadmin = \"off\"\naccess_log = \"{log}\"\n[[listen]]\naddr = \"127.0.0.1:1\"\n\
         [[route]]\npath = \"/\"\nupstream = \"dead\"\n[upstream.dead]\nservers = [\"{dead}\"]\n\
         [upstream.dead.retry]\nattempts = 1\n"
    )
}

/// A test route: its path, whether it forwards (else it answers 200 "hello"), its chain.
type TestRoute<'a> = (&'a str, bool, Vec<Box<dyn Filter>>);

/// A runtime compiled from `config`, whose routes are replaced by `routes`.
fn runtime(state: &ProcessState, log: &str, routes: Vec<TestRoute<'_>>) -> Runtime {
    let mut rt = forecourt_config::compile("pipeline.toml", &config(log), state).unwrap();
    let mut router = Router::default();
    for (path, forwards, filters) in routes {
        let action = match forwards {
            true => Action::Forward(Forward::new(Target::Group(rt.upstreams["dead"].clone()))),
            false => Action::Respond { status: StatusCode::OK, body: Bytes::from_static(b"hello") },
        };
        let mut route = Route::new(path.to_string(), PathPattern::parse(path).unwrap(), action);
        route.chain = Chain::new(filters);
        router.add(Arc::new(route));
    }
    rt.router = router;
    rt
}

fn worker(state: &ProcessState, rt: Runtime) -> Rc<Worker> {
    Worker::new(0, Arc::new(ArcSwap::from_pointee(rt)), state.metrics)
}

fn conn() -> Conn {
    Conn::new("192.0.2.7:4000".parse().unwrap(), false, None)
}

fn get(path: &str) -> Request<IncomingBody> {
    Request::get(path).header("host", "example.com").body(IncomingBody::empty()).unwrap()
}

async fn body_of(resp: Response<ProxyBody>) -> String {
    String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned()
}

fn temp_log(tag: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("forecourt-pipeline-{tag}-{}-{n}.log", std::process::id())).display().to_string()
}

/// P3 and P4: request phases in chain order, response phases in reverse, and after an
/// early answer only through the filters before the one that answered.
#[tokio::test]
async fn phases_run_in_order_and_responses_in_reverse_through_the_filters_passed() {
    let state = ProcessState::new();
    let journal = Journal::default();
    let all_pass = vec![Noting::boxed("a", &journal, None), Noting::boxed("b", &journal, None)];
    let b_answers = vec![
        Noting::boxed("a", &journal, None),
        Noting::boxed("b", &journal, Some(StatusCode::IM_A_TEAPOT)),
        Noting::boxed("c", &journal, None),
    ];
    let rt = runtime(&state, "off", vec![("/pass", false, all_pass), ("/answer", false, b_answers)]);
    let w = worker(&state, rt);

    let resp = handle(&w, &conn(), get("/pass"), None).await;
    assert_eq!((resp.status(), body_of(resp).await.as_str()), (StatusCode::OK, "hello"));
    let seen = std::mem::take(&mut *journal.lock().unwrap());
    assert_eq!(seen, ["a:request", "b:request", "b:response", "a:response"], "no upstream phase: nothing forwarded");

    let resp = handle(&w, &conn(), get("/answer"), None).await;
    assert_eq!(resp.status(), StatusCode::IM_A_TEAPOT);
    assert!(resp.headers().contains_key("x-request-id"), "every answer carries the request id");
    let seen = std::mem::take(&mut *journal.lock().unwrap());
    assert_eq!(seen, ["a:request", "b:request", "a:response"], "c never ran; b made the answer itself");
}

/// P5: the upstream phase runs only when the action forwards, after every decision.
#[tokio::test]
async fn the_upstream_phase_runs_only_when_forwarded_after_every_decision() {
    let state = ProcessState::new();
    let journal = Journal::default();
    let chain = vec![Noting::boxed("a", &journal, None), Noting::boxed("b", &journal, None)];
    let w = worker(&state, runtime(&state, "off", vec![("/", true, chain)]));
    let resp = handle(&w, &conn(), get("/x"), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "nobody listens upstream");
    let seen = journal.lock().unwrap().clone();
    assert_eq!(seen, ["a:request", "b:request", "a:upstream", "b:upstream", "b:response", "a:response"]);
}

/// P2: the front chain decides before routing: a front answer reaches no route filter.
#[tokio::test]
async fn the_front_chain_answers_before_routing() {
    let state = ProcessState::new();
    let journal = Journal::default();
    let mut rt = runtime(&state, "off", vec![("/", false, vec![Noting::boxed("route", &journal, None)])]);
    rt.front = Chain::new(vec![
        Noting::boxed("front-1", &journal, None),
        Noting::boxed("front-2", &journal, Some(StatusCode::FORBIDDEN)),
    ]);
    let w = worker(&state, rt);
    let resp = handle(&w, &conn(), get("/x"), None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(*journal.lock().unwrap(), ["front-1:request", "front-2:request", "front-1:response"]);
}

/// P7 and P9, and the contract from another crate: a filter waits on a timer without
/// holding the worker (another request is served meanwhile), adds a field to the access
/// log, and wraps the response body.
#[tokio::test]
async fn a_filter_from_another_crate_waits_logs_and_wraps_the_body() {
    let state = ProcessState::new();
    let log = temp_log("wait");
    let slow = vec![Box::new(Delayed { wait: Duration::from_millis(200) }) as Box<dyn Filter>];
    let w = worker(&state, runtime(&state, &log, vec![("/slow", false, slow), ("/fast", false, vec![])]));
    let c = conn();
    let order = RefCell::new(Vec::new());
    let slow_one = async {
        let resp = handle(&w, &c, get("/slow"), None).await;
        order.borrow_mut().push("slow");
        resp
    };
    let fast_one = async {
        let resp = handle(&w, &c, get("/fast"), None).await;
        order.borrow_mut().push("fast");
        resp
    };
    let started = Instant::now();
    let (slow_resp, fast_resp) = tokio::join!(slow_one, fast_one);
    assert_eq!(*order.borrow(), ["fast", "slow"], "the waiting request held nothing up");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(body_of(fast_resp).await, "hello");
    assert_eq!(body_of(slow_resp).await, "HELLO!", "the filter's body wraps the answer");
    let lines = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let slow_line = lines.lines().find(|l| l.contains("\"path\":\"/slow\"")).expect("a line for /slow");
    let waited: u64 =
        slow_line.split("\"waited_ms\":\"").nth(1).and_then(|s| s.split('"').next()?.parse().ok()).unwrap();
    assert!(waited >= 200, "{slow_line}");
    assert!(!lines.lines().find(|l| l.contains("\"path\":\"/fast\"")).unwrap().contains("waited_ms"));
    assert_eq!(lines.lines().count(), 2, "one line per request: {lines}");
}

/// P6: the body is read once, to the largest bound of the chain; each inspector sees at
/// most its own bound, and whether that is the whole body.
#[tokio::test]
async fn the_body_is_read_once_within_the_largest_bound() {
    let state = ProcessState::new();
    let (small, large) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let chain: Vec<Box<dyn Filter>> = vec![
        Box::new(Inspector { bound: 4, seen: small.clone() }),
        Box::new(Inspector { bound: 64, seen: large.clone() }),
    ];
    let w = worker(&state, runtime(&state, "off", vec![("/", true, chain)]));
    let post = |body: &'static str| Request::post("/up").header("host", "a").body(IncomingBody::full(body)).unwrap();

    let resp = handle(&w, &conn(), post("no evil here"), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "the larger bound saw it");
    assert_eq!(*small.lock().unwrap(), [(Bytes::from_static(b"no e"), false)]);
    assert_eq!(*large.lock().unwrap(), [(Bytes::from_static(b"no evil here"), true)]);

    let resp = handle(&w, &conn(), post("fine"), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "passed both, then the upstream is down");
    assert_eq!(small.lock().unwrap().last().unwrap(), &(Bytes::from_static(b"fine"), true));
}

/// P6: a filter may raise the bound for one request in phase 1; other requests are read
/// no further than declared.
#[tokio::test]
async fn a_filter_raises_the_body_bound_for_one_request() {
    let state = ProcessState::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let chain: Vec<Box<dyn Filter>> =
        vec![Box::new(Raiser { to: 64 }), Box::new(Inspector { bound: 4, seen: seen.clone() })];
    let w = worker(&state, runtime(&state, "off", vec![("/", true, chain)]));
    let post = |upload: bool| {
        let req = Request::post("/up").header("host", "a");
        let req = if upload { req.header("x-upload", "1") } else { req };
        req.body(IncomingBody::full("no evil here")).unwrap()
    };
    let resp = handle(&w, &conn(), post(false), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "the first 4 bytes only: passed");
    assert_eq!(seen.lock().unwrap().last().unwrap(), &(Bytes::from_static(b"no e"), false));
    let resp = handle(&w, &conn(), post(true), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "raised for this one: seen whole");
    assert_eq!(seen.lock().unwrap().last().unwrap(), &(Bytes::from_static(b"no evil here"), true));
    let resp = handle(&w, &conn(), post(false), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "the next request is read as declared again");
    assert_eq!(seen.lock().unwrap().last().unwrap(), &(Bytes::from_static(b"no e"), false));
}

/// P8: a local answer is in the client's terms and names the request, not a backend.
#[tokio::test]
async fn local_answers_are_in_the_clients_terms_and_counted() {
    let state = ProcessState::new();
    let w = worker(&state, runtime(&state, "off", vec![("=/only", false, vec![]), ("/", true, vec![])]));
    let json = Request::get("/x")
        .header("host", "a")
        .header("accept", "application/json")
        .header("x-request-id", "abc-1")
        .body(IncomingBody::empty())
        .unwrap();
    let resp = handle(&w, &conn(), json, None).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let body = body_of(resp).await;
    assert!(body.contains("\"error\":\"upstream_unreachable\"") && body.contains("\"request_id\":\"abc-1\""), "{body}");
    assert!(!body.contains("127.0.0.1"), "{body}");
    let grpc = Request::post("/x").header("host", "a").header("content-type", "application/grpc");
    let resp = handle(&w, &conn(), grpc.body(IncomingBody::empty()).unwrap(), None).await;
    assert_eq!((resp.status(), resp.headers()["grpc-status"].to_str().unwrap()), (StatusCode::OK, "14"));
    let trace = Request::builder().method("TRACE").uri("/x").header("host", "a");
    let resp = handle(&w, &conn(), trace.body(IncomingBody::empty()).unwrap(), None).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "TRACE only where a route lists it");
    let metrics = state.render_metrics();
    assert!(metrics.contains("forecourt_local_responses_total{reason=\"upstream_unreachable\"} 2"), "{metrics}");
    assert!(metrics.contains("forecourt_local_responses_total{reason=\"method_not_allowed\"} 1"), "{metrics}");
}
