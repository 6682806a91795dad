//! The central reader's connections to the central cluster, and what it finds there.
//!
//! Two connections, as a venue's leaf keeps to its own server: one carries the feeds' tails
//! and stream lookups, the other only the pages clients make it read, so however many
//! clients read, the tails are never queued behind their pages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;

use crate::log::StreamName;
use crate::uplink::{RemoteAuth, VenueId};

/// How long the first connection may take: the cluster is across a network.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a look at the cluster's streams may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the central cluster cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Credentials(#[from] crate::uplink::CredentialsError),
    #[error("cannot read the credentials file {path}: {source}")]
    CredsFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to the central cluster at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot list the central cluster's streams: {0}")]
    List(String),
}

/// A cheap handle; clones share the connections.
#[derive(Clone, Debug)]
pub struct Cluster {
    js: jetstream::Context,
    client: async_nats::Client,
    reads: async_nats::Client,
}

impl Cluster {
    /// Connects to `url` signed in as `auth` says (`--nats-credentials` or `--nats-token`).
    pub async fn connect(url: &str, auth: &RemoteAuth) -> Result<Self, ClusterError> {
        let (client, reads) = tokio::try_join!(
            connect_as("leaf-central", url, auth),
            connect_as("leaf-central-reads", url, auth)
        )?;
        Ok(Self {
            js: jetstream::new(client.clone()),
            client,
            reads,
        })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The connection for clients' pages.
    pub fn reads(&self) -> &async_nats::Client {
        &self.reads
    }

    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// The venues with both copies on the cluster: a venue whose leaf has made only one so
    /// far is not served until it has made the other.
    pub async fn venues(&self) -> Result<BTreeSet<VenueId>, ClusterError> {
        let names = tokio::time::timeout(LIST_TIMEOUT, async {
            let mut names = self.js.stream_names();
            let mut found = Vec::new();
            while let Some(name) = names.next().await {
                found.push(name.map_err(|e| ClusterError::List(e.to_string()))?);
            }
            Ok::<_, ClusterError>(found)
        })
        .await
        .map_err(|_| ClusterError::List("no answer in time".into()))??;
        Ok(venues_of(names.iter().map(String::as_str)))
    }

    /// Flushes what is in flight and closes both connections.
    pub async fn drain(&self) {
        for client in [&self.client, &self.reads] {
            if let Err(e) = client.drain().await {
                tracing::warn!(error = %e, "draining a connection to the central cluster failed");
            }
        }
    }
}

/// The venues of which `names` hold both copies.
fn venues_of<'a>(names: impl Iterator<Item = &'a str>) -> BTreeSet<VenueId> {
    let mut copies: BTreeMap<VenueId, BTreeSet<StreamName>> = BTreeMap::new();
    for (venue, stream) in names.filter_map(VenueId::from_central_stream) {
        copies.entry(venue).or_default().insert(stream);
    }
    copies
        .into_iter()
        .filter(|(_, streams)| streams.len() == StreamName::ALL.len())
        .map(|(venue, _)| venue)
        .collect()
}

async fn connect_as(
    name: &str,
    url: &str,
    auth: &RemoteAuth,
) -> Result<async_nats::Client, ClusterError> {
    let options = match auth {
        RemoteAuth::None => async_nats::ConnectOptions::new(),
        RemoteAuth::CredsFile(path) => credentials_file(path).await?,
        RemoteAuth::Nkey(seed) => async_nats::ConnectOptions::with_nkey(seed.clone()),
        RemoteAuth::User { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        RemoteAuth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
    };
    // One URL or several, comma-separated: the reader moves to another when one goes.
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClusterError::Connect {
            url: url.to_owned(),
            reason: format!("not a NATS URL (or a comma-separated list of them): {e}"),
        })?;
    // Across a network: back off to 5 s, so a cluster that is down is not hammered.
    let reconnects = crate::log::Reconnects {
        connect_timeout: CONNECT_TIMEOUT,
        step: Duration::from_millis(250),
        max: Duration::from_secs(5),
    };
    crate::log::watched(options, name, "the central cluster", reconnects)
        .connect(servers)
        .await
        .map_err(|e| ClusterError::Connect {
            url: url.to_owned(),
            // The error names the server, never the credentials.
            reason: e.to_string(),
        })
}

async fn credentials_file(path: &Path) -> Result<async_nats::ConnectOptions, ClusterError> {
    async_nats::ConnectOptions::with_credentials_file(path)
        .await
        .map_err(|source| ClusterError::CredsFile {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venue_is_served_once_both_its_copies_exist() {
        let names = [
            "VENUE_east_STATE",
            "VENUE_east_AUDIT",
            "VENUE_west_STATE",
            "ORDERS",
            "VENUE_Bad_STATE",
            "VENUE_Bad_AUDIT",
            "VENUE_x_y_STATE",
        ];
        let venues: Vec<String> = venues_of(names.into_iter())
            .into_iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(venues, ["east"]);
    }
}
