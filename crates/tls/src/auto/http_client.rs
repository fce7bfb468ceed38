//! HTTPS to the ACME directory, for instant-acme: one HTTP/1.1 connection per request
//! (an order makes a dozen requests, minutes apart), verified against the system's CAs or
//! `[acme] ca_bundle`, with a deadline so that an unreachable CA fails instead of hanging.
use bytes::Bytes;
use http::header::HOST;
use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The longest one request to the CA may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct AcmeHttp {
    tls: tokio_rustls::TlsConnector,
}

impl AcmeHttp {
    pub fn new(ca_bundle: Option<&str>) -> Result<AcmeHttp, String> {
        let roots = crate::read_roots(ca_bundle.unwrap_or(crate::SYSTEM_ROOTS))?;
        let config = ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(AcmeHttp { tls: tokio_rustls::TlsConnector::from(Arc::new(config)) })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            let uri = req.uri().clone();
            match tokio::time::timeout(REQUEST_TIMEOUT, send(tls, req)).await {
                Ok(result) => result.map_err(|why| Error::Other(format!("{uri}: {why}").into())),
                Err(_) => Err(Error::Other(format!("{uri}: no answer within {REQUEST_TIMEOUT:?}").into())),
            }
        })
    }
}

async fn send(tls: tokio_rustls::TlsConnector, mut req: Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, String> {
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
        exchange(stream, req).await
    } else {
        exchange(tcp, req).await
    }
}

async fn exchange<S>(io: S, req: Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(BytesResponse { parts, body: Box::new(body) })
}
