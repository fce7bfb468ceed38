//! The client connection a request arrived on, as the stages after the handshake see it:
//! facts fixed for the connection's life, made once by the accept stage.
use crate::client_identity::IdentitySlot;
use http::header::{HeaderName, HeaderValue};
use std::net::SocketAddr;

pub struct Conn {
    /// The socket's peer. (With the PROXY protocol, the address its header names.)
    pub peer: SocketAddr,
    /// Came over TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
    /// The name the client asked for in its TLS handshake.
    pub sni: Option<Box<str>>,
    /// On a listener with client certificates: the header for the client's verified
    /// subject, and that subject if it presented a certificate. (Boxed: rare, and every
    /// idle connection would carry its room.)
    pub client_cert: Option<Box<(HeaderName, Option<HeaderValue>)>>,
    /// This client's forwarding headers, made on its first forwarded request (again if a
    /// reload changed whether the peer is a trusted proxy).
    pub(crate) forwarding: IdentitySlot,
}

impl Conn {
    /// The same facts for a request made apart from this connection (a background
    /// refresh): its forwarding headers are made afresh.
    pub fn detached(&self) -> Conn {
        Conn {
            peer: self.peer,
            tls: self.tls,
            sni: self.sni.clone(),
            client_cert: self.client_cert.clone(),
            forwarding: IdentitySlot::default(),
        }
    }

    pub fn new(peer: SocketAddr, tls: bool, sni: Option<Box<str>>) -> Conn {
        Conn { peer, tls, sni, client_cert: None, forwarding: IdentitySlot::default() }
    }
}
