//! A limit counted by a query parameter (an API key in the URL, nginx's `$arg_NAME`) and
//! by the site a request is addressed to (nginx's `$host`): clients on other addresses
//! share a bucket when they share the key, a request without the parameter is not
//! counted, and one site's flood leaves another's requests alone.
use super::common::origin::Origin;
use super::common::*;
use super::{config_with, get_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_count_by_a_query_parameter_and_by_host() {
    let origin = Origin::start("o");
    let tables = "[limits.per_key]\nkey = \"query:api_key\"\nrate = \"1/min\"\n\
                  [limits.per_site]\nkey = \"host\"\nrate = \"1/min\"\nburst = 1\n";
    let fc = Forecourt::start(&config_with(&origin, free_port(), tables, "", "limits = [\"per_key\"]", ""));
    let (a, b) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    assert_eq!(get_from(&a, &fc.url("/x?api_key=k1")).await.status, 200);
    assert_eq!(get_from(&b, &fc.url("/y?page=2&api_key=k1")).await.status, 429, "one key from two addresses");
    assert_eq!(get_from(&b, &fc.url("/y?api_key=k2")).await.status, 200, "another key");
    for _ in 0..3 {
        assert_eq!(get_from(&a, &fc.url("/z")).await.status, 200, "without the parameter: not counted");
    }

    let sites = config_with(&origin, free_port(), tables, "", "limits = [\"per_site\"]", "");
    let fc = Forecourt::start(&sites);
    let to = |host: &'static str| {
        let (a, url) = (a.clone(), fc.url("/"));
        async move {
            let req = http::Request::get(url).header("host", host).body(http_body_util::Full::default()).unwrap();
            send(&a, req).await.status
        }
    };
    assert_eq!([to("a.example").await, to("A.example:80").await, to("a.example").await], [200, 200, 429]);
    assert_eq!(to("b.example").await, 200, "another site's bucket");
}
