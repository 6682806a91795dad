//! The nats-server configuration file leaf writes into the data dir before each start.
//!
//! Every line is a decision:
//! - `host: 127.0.0.1` and no `http`: the server is leaf's private log. Its client port is not
//!   reachable from the venue network, and it has no HTTP monitoring port at all, which would
//!   answer any local user (connections, streams, subjects with tournament ids) without a
//!   password. What leaf needs of monitoring (is it ready, what does it run with) it asks over
//!   NATS as the system account (see `monitor`).
//! - Ports are `-1` (random) on the first start and then pinned to what the server picked, so
//!   a restarted child comes back where the async-nats client is already reconnecting to.
//! - Two users with passwords made at random at each leaf start, so no other local process
//!   can publish into a tournament or read the server's state: `leaf`, in the global account
//!   (where JetStream has always kept leaf's streams), and `sys`, in the `SYS` system account,
//!   for readiness and `varz`. (A bare `authorization { token }` cannot sit beside an
//!   `accounts` block.) The file is written with mode 0600 and the passwords are never logged.
//! - `ports_file_dir`: how leaf learns the random ports. The file appears *after* the server
//!   says it is ready, and a stale one survives a kill -9, so the supervisor clears the folder
//!   before each start and polls until the new file parses.
//! - `jetstream { … sync_interval: always }`: fsync every write before acking it. A power cut
//!   at a venue must not lose an event a TD was told was saved. The limits keep a runaway
//!   tournament from filling the box: 64 MB of memory streams (leaf uses none), and on disk
//!   `--max-store` (1 GB unless told otherwise; see `log::storage`).
//! - `server_name`: stable across restarts, so JetStream sees the same server come back.
//!   `leaf`, or with an uplink the remote's own name: the central cluster refuses a second
//!   leafnode connection under a name it already holds, and names every venue's server in its
//!   monitoring.
//! - With an uplink ([`LeafRemote`], see `crate::uplink`): the JetStream `domain` the central
//!   cluster reaches the venue's streams through, and one `leafnodes` remote. It dials only
//!   the URLs it was given (`ignore_discovered_servers`: the central servers' own addresses
//!   may not be reachable from the venue), every second while the link is down. Tournament
//!   subjects are denied both ways: the central streams take the venue's messages through
//!   the domain's API, never as live traffic, and a venue must never receive another
//!   venue's events into its own streams (they listen on the same subjects).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::log::storage::StoreLimit;

/// The user leaf's own connections sign in as, in the global account.
pub const LEAF_USER: &str = "leaf";
/// The user of the system account, for readiness and the server's facts.
pub const SYS_USER: &str = "sys";

/// When the server fsyncs what it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncWrites {
    /// Every write, before its ack: what leaf always runs with.
    #[default]
    Always,
    /// The server's default interval (2 min), and at a graceful stop. Only for a restore,
    /// whose data dir is put in place after its server stopped, so a power cut during it
    /// leaves no data dir at all; an fsync per message would make it take an hour a million.
    Batched,
}

/// What goes into one config file.
#[derive(Clone)]
pub struct NatsConfig {
    /// `None` asks the server to pick a free port.
    pub client_port: Option<u16>,
    /// The password of user [`LEAF_USER`].
    pub token: String,
    /// The password of user [`SYS_USER`].
    pub sys_password: String,
    pub store_dir: PathBuf,
    /// `max_file_store`, in bytes.
    pub max_store: StoreLimit,
    pub sync: SyncWrites,
    pub ports_dir: PathBuf,
    pub remote: Option<LeafRemote>,
}

/// The venue's link to a central cluster, as the server's config says it.
#[derive(Clone, PartialEq, Eq)]
pub struct LeafRemote {
    /// This server's name: unique to this venue box (see `crate::uplink::server_name`).
    pub server_name: String,
    /// This server's JetStream domain.
    pub domain: String,
    /// With any user and password in them.
    pub urls: Vec<String>,
    /// A `.creds` file the server reads.
    pub credentials: Option<PathBuf>,
    /// An nkey seed.
    pub nkey: Option<String>,
}

impl std::fmt::Debug for LeafRemote {
    /// Without the URLs' passwords or the seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafRemote")
            .field("domain", &self.domain)
            .field("urls", &self.urls.len())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl LeafRemote {
    /// The `leafnodes` block.
    fn render(&self) -> String {
        let urls: Vec<String> = self.urls.iter().map(|u| quote(u)).collect();
        let mut remote = format!("    urls: [{}]\n", urls.join(", "));
        if let Some(path) = &self.credentials {
            remote += &format!("    credentials: {}\n", quote(&path.to_string_lossy()));
        }
        if let Some(seed) = &self.nkey {
            remote += &format!("    nkey: {}\n", quote(seed));
        }
        let mut refused = vec![quote(TOURNAMENTS)];
        refused.extend(
            DESTRUCTIVE_API
                .iter()
                .map(|call| quote(&format!("$JS.{}.API.{call}.>", self.domain))),
        );
        format!(
            "leafnodes {{\n  reconnect: \"1s\"\n  remotes = [ {{\n{remote}    \
             ignore_discovered_servers: true\n    \
             deny_imports: [{}]\n    deny_exports: [{}]\n  }} ]\n}}\n",
            refused.join(", "),
            quote(TOURNAMENTS),
        )
    }
}

/// Every tournament subject: they never cross the uplink.
const TOURNAMENTS: &str = "tournament.>";

/// The calls of the venue's JetStream API that the central side may not make: its copies
/// only read (stream info, consumers). Anyone with a central login could otherwise delete or
/// rewrite a venue's log through `$JS.<domain>.API` (`deny_delete` keeps single messages, not
/// whole streams).
const DESTRUCTIVE_API: [&str; 8] = [
    "STREAM.CREATE",
    "STREAM.UPDATE",
    "STREAM.DELETE",
    "STREAM.PURGE",
    "STREAM.MSG.DELETE",
    "STREAM.RESTORE",
    "STREAM.PEER.REMOVE",
    "ACCOUNT.PURGE",
];

impl std::fmt::Debug for NatsConfig {
    /// Without the token: it must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("client_port", &self.client_port)
            .field("store_dir", &self.store_dir)
            .field("ports_dir", &self.ports_dir)
            .finish_non_exhaustive()
    }
}

impl NatsConfig {
    pub fn render(&self) -> String {
        let port = |p: Option<u16>| p.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        format!(
            "# Written by leaf at every start; edits are overwritten.\n\
             server_name: {server_name}\n\
             host: \"127.0.0.1\"\n\
             port: {client}\n\
             ports_file_dir: {ports_dir}\n\
             authorization {{\n  users = [ {{ user: {leaf_user}, password: {token} }} ]\n}}\n\
             accounts {{\n  SYS {{ users = [ {{ user: {sys_user}, password: {sys_password} }} ] }}\n}}\n\
             system_account: SYS\n\
             jetstream {{\n  store_dir: {store_dir}\n  max_memory_store: 64MB\n  max_file_store: {max_store}\n{sync}{domain}}}\n{leafnodes}",
            client = port(self.client_port),
            server_name = quote(
                self.remote
                    .as_ref()
                    .map_or("leaf", |r| r.server_name.as_str())
            ),
            leaf_user = quote(LEAF_USER),
            sys_user = quote(SYS_USER),
            sys_password = quote(&self.sys_password),
            ports_dir = quote(&self.ports_dir.to_string_lossy()),
            token = quote(&self.token),
            store_dir = quote(&self.store_dir.to_string_lossy()),
            max_store = self.max_store.bytes(),
            sync = match self.sync {
                SyncWrites::Always => "  sync_interval: always\n",
                SyncWrites::Batched => "",
            },
            domain = self
                .remote
                .as_ref()
                .map(|r| format!("  domain: {}\n", quote(&r.domain)))
                .unwrap_or_default(),
            leafnodes = self
                .remote
                .as_ref()
                .map(LeafRemote::render)
                .unwrap_or_default(),
        )
    }

    /// Writes the file with mode 0600 (also over an older file with looser permissions), to
    /// a temporary name first: a reader (`leaf backup`) never sees half a file.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let temporary = path.with_extension("conf.new");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))?;
        file.write_all(self.render().as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    }
}

/// The password of `user` ([`LEAF_USER`] or [`SYS_USER`]) in a config file leaf wrote (see
/// [`NatsConfig::render`]): how `leaf backup` signs in to a running leaf's server.
pub fn read_password(text: &str, user: &str) -> Option<String> {
    let marker = format!("user: {}, password: ", quote(user));
    let rest = &text[text.find(&marker)? + marker.len()..];
    serde_json::Deserializer::from_str(rest)
        .into_iter::<String>()
        .next()?
        .ok()
}

/// A double-quoted string for the NATS config grammar (JSON escaping is a subset it reads).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NatsConfig {
        NatsConfig {
            client_port: None,
            token: "0123abcd".into(),
            sys_password: "4567efgh".into(),
            store_dir: "/data/nats".into(),
            max_store: StoreLimit::DEFAULT,
            sync: SyncWrites::Always,
            ports_dir: "/data/nats-run".into(),
            remote: None,
        }
    }

    #[test]
    fn an_uplink_adds_the_domain_and_one_remote_that_never_carries_tournaments() {
        let plain = config().render();
        assert!(
            !plain.contains("domain") && !plain.contains("leafnodes"),
            "{plain}"
        );
        let mut c = config();
        c.remote = Some(LeafRemote {
            server_name: "venue-main-0a1b2c3d".into(),
            domain: "venue-main".into(),
            urls: vec!["nats-leaf://u:p@c1:7422".into(), "tls://c2:7422".into()],
            credentials: Some("/etc/leaf/v.creds".into()),
            nkey: None,
        });
        let text = c.render();
        assert!(text.contains("  domain: \"venue-main\"\n}"), "{text}");
        assert!(
            text.contains("server_name: \"venue-main-0a1b2c3d\"\n"),
            "{text}"
        );
        assert!(text.contains("urls: [\"nats-leaf://u:p@c1:7422\", \"tls://c2:7422\"]"));
        assert!(text.contains("credentials: \"/etc/leaf/v.creds\""));
        assert!(!text.contains("nkey"));
        assert!(text.contains("ignore_discovered_servers: true"));
        assert!(
            text.contains(
                "deny_imports: [\"tournament.>\", \"$JS.venue-main.API.STREAM.CREATE.>\""
            ),
            "{text}"
        );
        assert!(text.contains("\"$JS.venue-main.API.STREAM.DELETE.>\""));
        assert!(text.contains("deny_exports: [\"tournament.>\"]"));
        assert!(!format!("{:?}", c.remote).contains("u:p@"));
    }

    #[test]
    fn the_leaf_password_reads_back_from_the_file_and_batched_sync_drops_always() {
        let mut tricky = config();
        tricky.token = r#"a"b\c, user: "x""#.into();
        assert_eq!(
            read_password(&tricky.render(), LEAF_USER).as_deref(),
            Some(tricky.token.as_str())
        );
        assert_eq!(
            read_password(&tricky.render(), SYS_USER).as_deref(),
            Some(tricky.sys_password.as_str())
        );
        assert_eq!(read_password("port: 4222", LEAF_USER), None);
        tricky.sync = SyncWrites::Batched;
        assert!(!tricky.render().contains("sync_interval"));
    }

    #[test]
    fn config_pins_loopback_sync_always_and_the_token() {
        let text = config().render();
        assert!(text.contains("host: \"127.0.0.1\""));
        assert!(text.contains("port: -1"));
        assert!(!text.contains("http"), "no monitoring port: {text}");
        assert!(text.contains("sync_interval: always"));
        assert!(text.contains("user: \"leaf\", password: \"0123abcd\""));
        assert!(text.contains("user: \"sys\", password: \"4567efgh\""));
        assert!(text.contains("system_account: SYS"));
        assert!(text.contains("store_dir: \"/data/nats\""));
        assert!(text.contains("max_file_store: 1073741824"));
    }

    #[test]
    fn debug_output_never_shows_the_passwords() {
        let debug = format!("{:?}", config());
        assert!(!debug.contains("0123abcd") && !debug.contains("4567efgh"));
    }

    #[test]
    fn paths_with_quotes_stay_one_string() {
        let mut c = config();
        c.store_dir = "/data/a \"b\"".into();
        assert!(c.render().contains(r#"store_dir: "/data/a \"b\"""#));
    }

    #[test]
    fn the_file_is_private_even_over_an_older_looser_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nats.conf");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        config().write(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(fs::read_to_string(&path).unwrap().contains("sync_interval"));
    }
}
