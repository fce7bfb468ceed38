//! The end-to-end tests, one test binary: each module starts the real `forecourt` binary
//! against real origins and Debian's peers (`common/`). One binary rather than one per
//! file: the harness is compiled and the whole program linked once, not thirteen times,
//! which was about two minutes of a CI run on two cores.
mod common;

mod acme;
mod balancing;
mod cache;
mod cache_disk;
mod cache_purge;
mod cache_reload;
mod cache_soft_purge;
mod cache_targeted;
mod cache_ttl;
mod cache_unreachable;
mod cache_variants;
mod cli;
mod compress;
mod dns;
mod edge;
mod lifecycle;
mod peers;
mod protocol;
mod proxy;
mod tls;
mod upstream_tls;
