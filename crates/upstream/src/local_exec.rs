use std::future::Future;

/// Executor for hyper's background tasks that keeps them on the current worker thread.
///
/// Each worker is a single-threaded runtime with a `LocalSet`, so connection tasks never
/// migrate and need not be `Send`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}
