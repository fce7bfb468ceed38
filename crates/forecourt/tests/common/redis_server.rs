//! Debian's `redis-server`, started by a test on a port of its own (no persistence), and
//! stopped or started again on the same port to play an outage; or three of them made
//! into a Redis Cluster with Debian's `redis-cli --cluster create`.
use super::{free_port, wait_for_port, TempDir};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    /// A node of a cluster: its bus port (its cluster state is kept in `dir` across a
    /// restart). Chosen like any other port: Redis's default, the port + 10000, may be
    /// another test's port or above 65535.
    cluster_bus: Option<u16>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::launch(None)
    }

    fn launch(cluster_bus: Option<u16>) -> RedisServer {
        let mut r = RedisServer { child: None, port: free_port(), dir: TempDir::new("redis"), cluster_bus };
        r.resume();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cli` against this server: what it printed, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Kills the server (SIGKILL: an outage, not a goodbye).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the server (`SIGSTOP`: it hangs, its connections open and
    /// unanswered, as a paused container or a stalled host; `SIGCONT`: it goes on).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("running").id();
        assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    }

    /// Starts it (again) on its port.
    pub fn resume(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &self.dir.path("")]);
        if let Some(bus) = self.cluster_bus {
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
            command.args(["--cluster-node-timeout", "2000", "--cluster-port", &bus.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        self.child = Some(child);
        wait_for_port(self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of three primaries (no replicas), every slot assigned.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::launch(Some(free_port()))).collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (apt-get install redis-server)");
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// Seed URLs: the first two nodes (the third is learnt from them).
    pub fn seeds(&self) -> String {
        format!("[\"redis://127.0.0.1:{}\", \"redis://127.0.0.1:{}\"]", self.nodes[0].port, self.nodes[1].port)
    }

    /// `redis-cli -c` (follows redirections) against the first node.
    pub fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").args(["-c", "-p", &self.nodes[0].port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Keys held by each node.
    pub fn keys_per_node(&self) -> Vec<u64> {
        let count = |port: u16| {
            let out = Command::new("redis-cli").args(["-p", &port.to_string(), "dbsize"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
        };
        self.nodes.iter().map(|n| count(n.port)).collect()
    }

    /// Every node says `cluster_state:ok` (within 15 s).
    pub fn wait_until_ok(&self) {
        let end = Instant::now() + Duration::from_secs(15);
        let ok = |port: u16| {
            let out = Command::new("redis-cli").args(["-p", &port.to_string(), "cluster", "info"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok")
        };
        while !self.nodes.iter().all(|n| ok(n.port)) {
            assert!(Instant::now() < end, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
