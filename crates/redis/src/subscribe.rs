//! Subscriptions: one pub/sub connection for every channel subscribed, connected again
//! (with the whole set) when it breaks or when a subscription is added; on a cluster, to
//! the first seed node that answers, the next one when that node goes. Messages sent while
//! it was down are lost; the `on_up` hooks read the shared state again for that.
use crate::connection::Target;
use crate::{Redis, Shared};
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub(crate) async fn run(target: Arc<Target>, redis: Weak<Redis>, shared: Arc<Shared>) {
    loop {
        if redis.strong_count() == 0 {
            return;
        }
        let subscriptions = shared.subscriptions.lock().unwrap().clone();
        if subscriptions.is_empty() {
            shared.resubscribe.notified().await;
            continue;
        }
        if let Some(mut pubsub) = target.pubsub().await {
            let mut subscribed = true;
            for (channel, _) in &subscriptions {
                subscribed &= pubsub.subscribe(channel.as_str()).await.is_ok();
            }
            let mut messages = pubsub.on_message();
            // Not subscribed to every channel: connect again after the pause below.
            while subscribed {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { subscribed = false; continue };
                        for (channel, handler) in &subscriptions {
                            if message.get_channel_name() == channel {
                                handler(message.get_payload_bytes());
                            }
                        }
                    }
                    _ = shared.resubscribe.notified() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        if redis.strong_count() == 0 {
                            return;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
