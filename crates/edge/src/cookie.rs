//! A request's cookie by name, for the filters that key or decide on one (a rate limit's
//! `cookie:NAME` key part, the challenge's pass).
use http::header::COOKIE;
use http::request;

/// The value of cookie `name`, from any `Cookie` field of the request.
pub fn cookie<'h>(head: &'h request::Parts, name: &str) -> Option<&'h str> {
    head.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (n, v) = pair.trim().split_once('=')?;
        (n == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others() {
        let head = http::Request::builder()
            .header("cookie", "a=1; forecourt_pass=AB.CD")
            .header("cookie", "b=2")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(cookie(&head, "forecourt_pass"), Some("AB.CD"));
        assert_eq!(cookie(&head, "b"), Some("2"));
        assert_eq!(cookie(&head, "c"), None);
    }
}
