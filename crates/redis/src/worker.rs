//! The Redis thread: a small runtime of its own that connects and checks (`health`),
//! follows subscriptions (`subscribe`), and runs the callers' jobs on the current
//! connection, each as a task so that one slow answer does not hold the next. It ends
//! when the `Redis` handle is dropped (a reload that changes `[redis]`).
use crate::connection::{Connection, Target};
use crate::health::{self, Current};
use crate::{subscribe, Job, Redis, Shared};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

pub(crate) fn spawn(
    target: Target,
    redis: Weak<Redis>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("redis".into()).spawn(move || {
        runtime.block_on(async move {
            let current: Current = Arc::default();
            let target = Arc::new(target);
            tokio::spawn(health::run(target.clone(), redis.clone(), shared.clone(), current.clone()));
            tokio::spawn(subscribe::run(target, redis, shared));
            while let Some(job) = jobs.recv().await {
                let connection = current.lock().unwrap().clone();
                tokio::spawn(run(job, connection));
            }
        });
    })?;
    Ok(())
}

async fn run(job: Job, connection: Option<Connection>) {
    let Some(mut c) = connection else {
        reply(job, Err("not connected".into()));
        return;
    };
    match job {
        Job::Cmd(cmd, reply_to) => {
            let answer = cmd.query_async::<redis::Value>(&mut c).await.map_err(crate::health::failure);
            if let Some(tx) = reply_to {
                let _ = tx.send(answer);
            }
        }
        Job::Script(script, keys, args, tx) => {
            let mut invocation = script.prepare_invoke();
            for k in &keys {
                invocation.key(k.as_slice());
            }
            for a in &args {
                invocation.arg(a.as_slice());
            }
            let _ = tx.send(invocation.invoke_async::<redis::Value>(&mut c).await.map_err(crate::health::failure));
        }
    }
}

fn reply(job: Job, answer: Result<redis::Value, String>) {
    match job {
        Job::Cmd(_, Some(tx)) | Job::Script(_, _, _, tx) => {
            let _ = tx.send(answer);
        }
        Job::Cmd(_, None) => {}
    }
}
