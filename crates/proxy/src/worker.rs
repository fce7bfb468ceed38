//! The per-worker context: what one worker thread owns and its requests use (the config
//! snapshot in force, the upstream connection pool, the metrics, the drain signal, the lot
//! where idle connections wait). It sits below the stages that use it: the accept loop,
//! the HTTP servers and the pipeline.
use crate::body::ClientBody;
use crate::client_identity::IdentityCache;
use crate::drain::Drain;
use crate::metrics::Metrics;
use crate::parking::Lot;
use crate::runtime::Runtime;
use arc_swap::ArcSwap;
use forecourt_upstream::Pool;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct Worker {
    pub id: usize,
    /// The snapshot the control thread swaps at each reload.
    current: Arc<ArcSwap<Runtime>>,
    /// Keep-alive connections to upstream servers, this worker's own (no locks).
    pub pool: Rc<Pool<ClientBody>>,
    pub metrics: &'static Metrics,
    /// Tells every connection of this worker to finish (graceful shutdown).
    pub(crate) drain: Rc<Drain>,
    /// Where this worker's idle HTTP/1 keep-alive connections wait for their next request.
    pub(crate) parking: Lot,
    /// Recent clients' forwarding headers, so that a client opening connection after
    /// connection does not have them made anew each time.
    pub(crate) identities: IdentityCache,
    pub(crate) open_connections: Cell<usize>,
    pub(crate) all_closed: Notify,
}

impl Worker {
    /// Worker `id`, serving from the snapshot in `current`.
    pub fn new(id: usize, current: Arc<ArcSwap<Runtime>>, metrics: &'static Metrics) -> Rc<Worker> {
        let drain = Rc::new(Drain::default());
        Rc::new(Worker {
            id,
            current,
            pool: Pool::new(metrics.pool.clone()),
            metrics,
            drain: drain.clone(),
            parking: Lot::new(drain),
            identities: IdentityCache::default(),
            open_connections: Cell::new(0),
            all_closed: Notify::new(),
        })
    }

    /// The current config snapshot; a request keeps the one it started with.
    pub fn snapshot(&self) -> Arc<Runtime> {
        self.current.load_full()
    }
}
