//! State that outlives reloads: one value per process, owned by the binary and handed to
//! every compile (which wires it into the snapshot: route counters, the upstream servers'
//! state, TLS sessions and certificates), to the workers and to the admin listener.
//! Nothing reaches it through a global, so a test can have a process of its own.
use crate::metrics::Metrics;
use forecourt_tls::TlsState;
use forecourt_upstream::state::Registry;
use std::any::Any;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct ProcessState {
    /// Lives as long as the process: every request's record points at it, and a plain
    /// reference costs the hot path no shared reference count.
    pub metrics: &'static Metrics,
    /// What is learnt about each upstream server (health, latency, counters).
    pub upstreams: Arc<Registry>,
    /// Session store, ticket keys and automatic certificates.
    pub tls: Arc<TlsState>,
    /// The process-wide parts of capabilities built on the proxy (a cache's store), one
    /// per type.
    pub services: Services,
}

/// Process-wide values by type, shared by every snapshot that uses them.
#[derive(Clone, Default)]
pub struct Services(Arc<Mutex<Vec<Arc<dyn Any + Send + Sync>>>>);

impl Services {
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.lock().unwrap().iter().find_map(|s| s.clone().downcast::<T>().ok())
    }

    /// Puts `value` in place of the one of its type, if any.
    pub fn set<T: Any + Send + Sync>(&self, value: Arc<T>) {
        let mut all = self.0.lock().unwrap();
        all.retain(|s| !s.is::<T>());
        all.push(value);
    }

    /// Drops the value of type `T`, if any (a capability a reload removed).
    pub fn remove<T: Any + Send + Sync>(&self) {
        self.0.lock().unwrap().retain(|s| !s.is::<T>());
    }
}

impl ProcessState {
    /// A new process's state. Its metrics are never freed: there is one per process (and
    /// one per in-process test).
    pub fn new() -> ProcessState {
        ProcessState {
            metrics: Box::leak(Box::default()),
            upstreams: Arc::default(),
            tls: Arc::new(TlsState::default()),
            services: Services::default(),
        }
    }

    /// `/metrics`: the Prometheus text of everything.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&self.upstreams, &self.tls.managed)
    }
}

impl Default for ProcessState {
    fn default() -> Self {
        ProcessState::new()
    }
}
