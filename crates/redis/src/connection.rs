//! What the Redis thread connects to: one server, through a connection manager (one
//! multiplexed connection that reconnects itself), or a Redis Cluster, through redis-rs'
//! cluster connection (it learns which node serves which slots from the seed nodes, sends
//! each command to the primary of its key's slot, and follows MOVED and ASK redirections).
//! Both are a `Connection` that jobs and the health check use alike; `check` asks every
//! primary of a cluster by its address, since a node whose connection redis-rs has lost
//! would be left out of a `PING` to all primaries. Every key Forecourt writes is one key per command or script, or keys that
//! share a hash tag (`{bans}`), so that each command has one slot.
use crate::{redacted, Servers};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{cmd, Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// How long connecting may take, to one server or to the cluster's seeds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where to connect, checked when the config compiles.
pub(crate) enum Target {
    One(redis::Client),
    /// The cluster's client, and a client for each seed node (pub/sub goes to one node).
    Cluster {
        client: ClusterClient,
        seeds: Vec<redis::Client>,
    },
}

/// A connection that commands and scripts go through.
#[derive(Clone)]
pub(crate) enum Connection {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Target {
    pub fn open(servers: &Servers, timeout: Duration) -> Result<Target, String> {
        let client = |url: &str| redis::Client::open(url).map_err(|e| format!("bad Redis URL {}: {e}", redacted(url)));
        match servers {
            Servers::One(url) => Ok(Target::One(client(url)?)),
            Servers::Cluster(urls) => {
                let seeds = urls.iter().map(|u| client(u)).collect::<Result<Vec<_>, _>>()?;
                let client = ClusterClient::builder(urls.clone())
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(response_timeout(timeout))
                    .retries(2)
                    .build()
                    .map_err(|e| format!("bad Redis Cluster seeds: {e}"))?;
                Ok(Target::Cluster { client, seeds })
            }
        }
    }

    pub async fn connect(&self, timeout: Duration) -> Result<Connection, String> {
        let connecting = async {
            match self {
                Target::One(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(CONNECT_TIMEOUT)
                        .set_response_timeout(response_timeout(timeout))
                        .set_number_of_retries(1);
                    ConnectionManager::new_with_config(client.clone(), config).await.map(Connection::One)
                }
                Target::Cluster { client, .. } => client.get_async_connection().await.map(Connection::Cluster),
            }
        };
        match tokio::time::timeout(2 * CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connecting timed out".into()),
        }
    }

    /// A connection for subscriptions: the server's, or the first seed node's that answers
    /// (a cluster hands every `PUBLISH` to all its nodes, so one node hears every message).
    pub async fn pubsub(&self) -> Option<PubSub> {
        let candidates = match self {
            Target::One(client) => std::slice::from_ref(client),
            Target::Cluster { seeds, .. } => seeds.as_slice(),
        };
        for client in candidates {
            if let Ok(Ok(pubsub)) = tokio::time::timeout(2 * CONNECT_TIMEOUT, client.get_async_pubsub()).await {
                return Some(pubsub);
            }
        }
        None
    }
}

impl Connection {
    /// Whether Redis is all there: the server answers a `PING`; in a cluster, the node
    /// asked says the cluster is ok and each primary that serves slots answers a `PING`.
    pub async fn check(&mut self) -> Result<(), String> {
        let c = match self {
            Connection::One(c) => {
                return cmd("PING").query_async::<String>(c).await.map(drop).map_err(|e| e.to_string())
            }
            Connection::Cluster(c) => c,
        };
        let info: String = cmd("CLUSTER").arg("INFO").query_async(c).await.map_err(|e| e.to_string())?;
        if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
            return Err("the cluster's state is not ok".into());
        }
        let slots: Value = cmd("CLUSTER").arg("SLOTS").query_async(c).await.map_err(|e| e.to_string())?;
        for (host, port) in primaries(&slots) {
            let ping = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port });
            c.route_command(&cmd("PING"), ping).await.map_err(|e| format!("node {host}:{port}: {e}"))?;
        }
        Ok(())
    }
}

/// The primaries (host, port) of a `CLUSTER SLOTS` answer: each range is `[start, end,
/// [host, port, id], replicas…]`.
fn primaries(slots: &Value) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = Vec::new();
    let Value::Array(ranges) = slots else { return out };
    for range in ranges {
        let Value::Array(range) = range else { continue };
        let Some(Value::Array(primary)) = range.get(2) else { continue };
        let (Some(Value::BulkString(host)), Some(Value::Int(port))) = (primary.first(), primary.get(1)) else {
            continue;
        };
        let node = (String::from_utf8_lossy(host).into_owned(), *port as u16);
        if !out.contains(&node) {
            out.push(node);
        }
    }
    out
}

/// An answer may take a little longer than a request waits for it: a late answer still
/// tells the health check that Redis is there.
pub(crate) fn response_timeout(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(250))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::One(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::One(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::One(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_come_from_the_slot_ranges_once_each() {
        let node = |host: &str, port: i64| Value::Array(vec![Value::BulkString(host.into()), Value::Int(port)]);
        let range =
            |start, end, primary, replica| Value::Array(vec![Value::Int(start), Value::Int(end), primary, replica]);
        let slots = Value::Array(vec![
            range(0, 5460, node("10.0.0.1", 7000), node("10.0.0.4", 7000)),
            range(5461, 10922, node("10.0.0.2", 7000), node("10.0.0.5", 7000)),
            range(10923, 12000, node("10.0.0.3", 7000), node("10.0.0.6", 7000)),
            range(12001, 16383, node("10.0.0.3", 7000), node("10.0.0.6", 7000)),
        ]);
        let expected: Vec<(String, u16)> = (1..=3).map(|i| (format!("10.0.0.{i}"), 7000)).collect();
        assert_eq!(primaries(&slots), expected);
        assert!(primaries(&Value::Nil).is_empty());
    }
}
