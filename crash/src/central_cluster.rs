//! A central NATS cluster of three servers in containers (host network, loopback ports),
//! JetStream domain `central`, taking leafnode connections from the venues it knows.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;

use crate::HarnessError;
use crate::engine::Engine;
use crate::leaf_node::free_port;
use crate::nats_node::NatsNode;

pub const DOMAIN: &str = "central";

/// A venue the cluster lets in over a leafnode connection.
pub struct VenueLogin {
    pub user: String,
    pub password: String,
}

pub struct CentralCluster {
    pub nodes: Vec<NatsNode>,
    leafnode_ports: Vec<u16>,
}

impl CentralCluster {
    /// Three servers with their stores under `dir`, routed to one another.
    pub async fn start(
        engine: Engine,
        dir: &Path,
        venues: &[VenueLogin],
    ) -> Result<Self, HarnessError> {
        let mut ports = Vec::new();
        for _ in 0..3 {
            ports.push((free_port()?, free_port()?, free_port()?));
        }
        let users: Vec<String> = venues
            .iter()
            .map(|v| format!("{{ user: {:?}, password: {:?} }}", v.user, v.password))
            .collect();
        let mut configs = Vec::new();
        for (i, (client, route, leaf)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, r, _))| format!("\"nats-route://127.0.0.1:{r}\""))
                .collect();
            configs.push(format!(
                "server_name: c{i}\nlisten: \"127.0.0.1:{client}\"\nports_file_dir: \"/conf\"\n\
                 jetstream {{\n  store_dir: \"/data\"\n  domain: {DOMAIN}\n  sync_interval: always\n}}\n\
                 cluster {{\n  name: central\n  listen: \"127.0.0.1:{route}\"\n  routes: [{}]\n}}\n\
                 leafnodes {{\n  listen: \"127.0.0.1:{leaf}\"\n  authorization {{ users = [ {} ] }}\n}}\n",
                routes.join(", "),
                users.join(", ")
            ));
        }
        // All three at once: a JetStream cluster waits for its peers to elect a meta leader.
        let starts = configs.iter().enumerate().map(|(i, config)| {
            let (engine, conf, store) = (
                engine.clone(),
                dir.join(format!("c{i}-conf")),
                dir.join(format!("c{i}-data")),
            );
            async move {
                std::fs::create_dir_all(&store)
                    .map_err(|e| HarnessError::Setup(format!("central store: {e}")))?;
                NatsNode::start_configured(engine, &conf, &store, config).await
            }
        });
        let nodes = futures_util::future::try_join_all(starts).await?;
        let cluster = Self {
            nodes,
            leafnode_ports: ports.iter().map(|(_, _, l)| *l).collect(),
        };
        cluster.wait_for_jetstream(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    /// The leafnode addresses, for a proxy in front of them.
    pub fn leafnode_addrs(&self) -> Vec<SocketAddr> {
        self.leafnode_ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect()
    }

    /// A client of the cluster, through whichever node answers.
    pub async fn client(&self) -> Result<async_nats::Client, HarnessError> {
        let urls = self
            .nodes
            .iter()
            .map(|n| n.url().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HarnessError::Setup(format!("a central node's URL: {e}")))?;
        async_nats::ConnectOptions::new()
            .max_reconnects(None)
            .connect(urls)
            .await
            .map_err(|e| HarnessError::Setup(format!("no central node answers: {e}")))
    }

    /// Until the cluster's JetStream answers (a meta leader is elected).
    pub async fn wait_for_jetstream(&self, within: Duration) -> Result<(), HarnessError> {
        let client = self.client().await?;
        let js = jetstream::new(client);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if js.query_account().await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(HarnessError::Setup(format!(
                    "the central cluster's JetStream did not answer within {within:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.stop().await;
        }
    }
}
