//! HTTPS to the ACME directory, for instant-acme: one HTTP/1.1 connection per request
//! (an order makes a dozen requests, minutes apart), verified against the system's CAs or
//! `[acme] ca_bundle`, with a deadline so that an unreachable CA fails instead of hanging.
use bytes::Bytes;
use http::Request;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The longest one request to the CA may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an ACME answer read (a certificate chain is a few kilobytes).
const MAX_BODY: usize = 1 << 20;

pub struct AcmeHttp {
    tls: tokio_rustls::TlsConnector,
}

impl AcmeHttp {
    pub fn new(ca_bundle: Option<&str>) -> Result<AcmeHttp, String> {
        Ok(AcmeHttp { tls: crate::fetch::connector(ca_bundle)? })
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
            match tokio::time::timeout(REQUEST_TIMEOUT, crate::fetch::send(tls, req, MAX_BODY)).await {
                Ok(Ok(resp)) => {
                    let (parts, body) = resp.into_parts();
                    Ok(BytesResponse { parts, body: Box::new(body) })
                }
                Ok(Err(why)) => Err(Error::Other(format!("{uri}: {why}").into())),
                Err(_) => Err(Error::Other(format!("{uri}: no answer within {REQUEST_TIMEOUT:?}").into())),
            }
        })
    }
}
