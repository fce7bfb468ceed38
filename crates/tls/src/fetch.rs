//! One HTTP/1.1 request over a fresh connection, to a URL the config names (the ACME
//! directory, an address-list feed): HTTPS verified against the system's CAs or a given
//! bundle, the body read whole up to a cap. Callers put their own deadline around it.
use bytes::Bytes;
use http::header::HOST;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A TLS client verifying against `ca_bundle` (a PEM file), or the system's CAs.
pub fn connector(ca_bundle: Option<&str>) -> Result<tokio_rustls::TlsConnector, String> {
    let roots = crate::read_roots(ca_bundle.unwrap_or(crate::SYSTEM_ROOTS))?;
    let config = ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// `GET url` with `headers`: the response, its body whole (at most `max_bytes`).
pub async fn get(url: &str, headers: http::HeaderMap, max_bytes: usize) -> Result<Response<Bytes>, String> {
    static SYSTEM: OnceLock<Result<tokio_rustls::TlsConnector, String>> = OnceLock::new();
    let tls = SYSTEM.get_or_init(|| connector(None)).clone()?;
    let mut req = Request::get(url).body(http_body_util::Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    *req.headers_mut() = headers;
    send(tls, req, max_bytes).await
}

/// Sends `req` (its URI absolute) over a new connection.
pub async fn send<B>(
    tls: tokio_rustls::TlsConnector,
    mut req: Request<B>,
    max_bytes: usize,
) -> Result<Response<Bytes>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let uri = req.uri().clone();
    let host = uri.host().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("the URL is neither https:// nor http://".into()),
    };
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
    req.headers_mut().insert(HOST, authority.parse().map_err(|_| "bad host")?);
    *req.uri_mut() = uri.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| "bad path")?;
    let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("cannot connect: {e}"))?;
    if https {
        let name = ServerName::try_from(host).map_err(|e| e.to_string())?;
        let stream = tls.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
        exchange(stream, req, max_bytes).await
    } else {
        exchange(tcp, req, max_bytes).await
    }
}

async fn exchange<S, B>(io: S, req: Request<B>, max_bytes: usize) -> Result<Response<Bytes>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = http_body_util::Limited::new(body, max_bytes)
        .collect()
        .await
        .map_err(|e| match e.is::<http_body_util::LengthLimitError>() {
            true => format!("the body is larger than {max_bytes} bytes"),
            false => e.to_string(),
        })?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}
