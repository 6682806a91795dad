//! The command line: flags (each with an environment fallback) and the offline subcommands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `leaf --version`: whether this binary is a complete install (`ci/deb.sh` checks it).
#[cfg(feature = "bundled-nats-server")]
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (nats-server ",
    env!("LEAF_BUNDLED_NATS_VERSION"),
    " embedded)"
);
#[cfg(not(feature = "bundled-nats-server"))]
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (no embedded nats-server: give --nats-server, or run from a checkout after make deps)"
);

/// leaf: the venue node of Felt. Runs the tournament event log (NATS JetStream), the state
/// database (LibSQL), the HTTP API and the live WebSocket feed for TD consoles and displays.
///
/// Without a subcommand, leaf serves until SIGINT or SIGTERM.
#[derive(Debug, Clone, Parser)]
#[command(name = "leaf", version, long_version = LONG_VERSION)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage Tournament Director accounts (offline; works beside a running leaf).
    #[command(subcommand)]
    Td(TdCommand),
    /// Back up the data dir (the event log, leaf.db and the token key) into a new directory,
    /// while leaf runs or not; or check a backup with --verify.
    Backup(BackupArgs),
    /// Make a new data dir (--data-dir, which must be missing or empty) from a backup.
    Restore(RestoreArgs),
    /// Certificates for HTTPS.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// The uplink to a central cluster.
    #[command(subcommand)]
    Uplink(UplinkCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum UplinkCommand {
    /// Whether the running leaf on --data-dir holds its link to the central cluster, when
    /// the central cluster last answered, and how many messages of each stream the central
    /// copy still lacks. Exits non-zero when the uplink needs attention.
    Status,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TlsCommand {
    /// Make a local certificate authority (once; kept and reused) and a certificate it signs
    /// for this box's names and addresses, and print how to trust the authority on a TD's
    /// laptop. Run it again when the box's address changes: a running leaf picks up the new
    /// certificate by itself.
    SelfSigned(SelfSignedArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SelfSignedArgs {
    /// Where to write ca.pem, ca.key, cert.pem and key.pem (default: DATA_DIR/tls).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Another name or IP address the certificate must cover (repeatable), besides the box's
    /// hostname, hostname.local, localhost and every address of its interfaces.
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct BackupArgs {
    /// Where to write the backup: a directory that does not exist yet.
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,
    /// Check the backup at PATH (every checksum and message) instead of taking one.
    #[arg(long, value_name = "PATH")]
    pub verify: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore (a directory `leaf backup` made).
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TdCommand {
    /// Add a TD. The PIN (at least 6 characters) is read from the first line of stdin:
    /// `echo 482193 | leaf --data-dir ./data td add alice`.
    Add { name: String },
    /// List the TDs.
    List,
    /// Remove a TD. Their tokens are refused from then on, also by a running leaf; adding the
    /// name again makes a new account, whose PIN must be used to sign in anew.
    Remove { name: String },
}

/// How leaf runs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Where leaf keeps everything: leaf.db, the JetStream store, the nats-server config.
    #[arg(long, env = "LEAF_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Address for HTTP and WebSocket. 0.0.0.0 serves the venue network.
    #[arg(long, env = "LEAF_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: SocketAddr,

    /// The nats-server executable to supervise (default: .tools/ from `make deps`, then the one
    /// embedded in a release build, written to DATA_DIR/nats/bin/, then PATH).
    #[arg(long, env = "LEAF_NATS_SERVER")]
    pub nats_server: Option<PathBuf>,

    /// Use this NATS server or cluster (e.g. nats://10.0.0.5:4222) instead of starting one.
    #[arg(long, env = "LEAF_NATS_URL")]
    pub nats_url: Option<String>,

    /// Auth token for --nats-url, if that server wants one.
    #[arg(long, env = "LEAF_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,

    /// Development mode: permissive CORS so the frontend dev server can call the API.
    #[arg(long, env = "LEAF_DEV", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: bool,

    /// Most HTTP and WebSocket connections at once (each is an open file).
    #[arg(long, env = "LEAF_MAX_CONNECTIONS", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most connections at once from one address (raise it when leaf sits behind a proxy or NAT).
    #[arg(long, env = "LEAF_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,

    /// Seconds a client may take to send a request's headers before the connection is closed.
    #[arg(long, env = "LEAF_HEADER_READ_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout: u64,

    /// Most lobby screens (WebSockets without a token, announcements only) at once.
    #[arg(long, env = "LEAF_MAX_LOBBY_SOCKETS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_lobby_sockets: u32,

    /// Most reads of the event log for clients at once (`GET …/events`, pages of a resume).
    #[arg(long, env = "LEAF_MAX_LOG_READS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_log_reads: u32,

    /// Most of those for one token (a TD account, a viewer link) at once.
    #[arg(long, env = "LEAF_MAX_LOG_READS_PER_TOKEN", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_log_reads_per_token: u32,

    /// Pages of the event log one token may read a second, after a burst of twice as many.
    #[arg(long, env = "LEAF_LOG_PAGES_PER_TOKEN_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub log_pages_per_token_per_second: u32,

    /// Most bytes the event log may keep on disk (nats-server's max_file_store), with KB, MB,
    /// GB or TB. An append takes about 610 bytes, so the default 1GB holds about 1.7 million
    /// (some 5 years of a busy venue). Health warns from 80%; at the limit appends are refused
    /// with 507 storage_full and everything else keeps working. Raise it and restart to go on.
    #[arg(long, env = "LEAF_MAX_STORE", default_value = "1GB")]
    pub max_store: crate::log::storage::StoreLimit,

    #[command(flatten)]
    pub backups: BackupFlags,

    /// Lets clients off the box read /metrics with `Authorization: Bearer <TOKEN>` (the box
    /// itself always may): 16 or more visible ASCII characters.
    #[arg(
        long,
        env = "LEAF_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = metrics_token
    )]
    pub metrics_token: Option<String>,

    #[command(flatten)]
    pub tls: TlsFlags,

    #[command(flatten)]
    pub uplink: UplinkFlags,

    #[command(flatten)]
    pub central: CentralFlags,

    /// Log line format on stderr.
    #[arg(long, env = "LEAF_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// HTTPS and WSS (see `leaf tls self-signed` for a venue with no certificate authority).
#[derive(Debug, Clone, Args, Default)]
pub struct TlsFlags {
    /// Serve HTTPS and WSS with this PEM certificate chain (and --tls-key). leaf reloads the
    /// pair when either file changes; open connections keep going.
    #[arg(long, env = "LEAF_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "LEAF_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// With TLS, also answer plain HTTP here, redirecting every request to HTTPS
    /// (e.g. 0.0.0.0:80 beside --addr 0.0.0.0:443).
    #[arg(
        long,
        env = "LEAF_HTTP_REDIRECT",
        value_name = "ADDR",
        requires = "tls_cert"
    )]
    pub http_redirect: Option<SocketAddr>,
}

/// The central reader: leaf started against the central cluster, serving every venue's copy
/// read-only (README: "More than one venue").
#[derive(Debug, Clone, Args, Default)]
pub struct CentralFlags {
    /// Serve the venues' copies on the central cluster at --nats-url, read-only and open to
    /// anyone, instead of a venue's own log. Starts no nats-server.
    /// (`LEAF_CENTRAL=1`, `true`, `yes` or `on`.) Needs --nats-url; not with --uplink-url,
    /// --backup-dir, --http-redirect or --metrics-token (checked at start, not here: clap
    /// takes `LEAF_CENTRAL=0` as given).
    #[arg(
        long = "central",
        env = "LEAF_CENTRAL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub enabled: bool,

    /// A file with what the central cluster gave this reader to sign in: a NATS .creds file,
    /// an nkey seed, or one line `user:password` (or a token).
    #[arg(
        long,
        env = "LEAF_NATS_CREDENTIALS",
        value_name = "PATH",
        conflicts_with = "nats_token"
    )]
    pub nats_credentials: Option<std::path::PathBuf>,
}

/// Replication of this venue's log to a central NATS cluster (README: "More than one venue").
/// Without --uplink-url nothing of it runs.
#[derive(Debug, Clone, Args, Default)]
pub struct UplinkFlags {
    /// The central cluster's leafnode URLs (repeat the flag or separate them with commas),
    /// e.g. nats-leaf://central-1.example.org:7422. Needs --venue-id.
    #[arg(
        long = "uplink-url",
        env = "LEAF_UPLINK_URL",
        value_name = "URL",
        value_delimiter = ',',
        requires = "venue_id"
    )]
    pub uplink_urls: Vec<String>,

    /// This venue's id on the central cluster, unique among its venues: 1 to 32 of a-z, 0-9
    /// and '-'. It names the venue's JetStream domain and its streams there.
    #[arg(
        long,
        env = "LEAF_VENUE_ID",
        value_name = "ID",
        requires = "uplink_urls"
    )]
    pub venue_id: Option<crate::uplink::VenueId>,

    /// A file with what the central cluster gave this venue to sign in: a NATS .creds file,
    /// an nkey seed, or one line `user:password` (or a token). Without it leaf signs in with
    /// whatever the URLs carry.
    #[arg(
        long,
        env = "LEAF_UPLINK_CREDENTIALS",
        value_name = "PATH",
        requires = "uplink_urls"
    )]
    pub uplink_credentials: Option<PathBuf>,

    /// The central cluster's JetStream domain (its `jetstream { domain }`).
    #[arg(
        long,
        env = "LEAF_UPLINK_DOMAIN",
        value_name = "DOMAIN",
        requires = "uplink_urls"
    )]
    pub uplink_domain: Option<String>,

    /// Replicas of each of the venue's streams on the central cluster (default 3; 1 for a
    /// central cluster of one server).
    #[arg(
        long,
        env = "LEAF_UPLINK_REPLICAS",
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(1..=5),
        requires = "uplink_urls"
    )]
    pub uplink_replicas: Option<u8>,
}

/// Scheduled backups, taken by the running leaf (see `leaf backup` for one by hand).
#[derive(Debug, Clone, Args, Default)]
pub struct BackupFlags {
    /// Take backups into this directory (created if missing), as `leaf-backup-<UTC time>`
    /// directories; health shows the age and size of the last good one.
    #[arg(long, env = "LEAF_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// How often: a whole number with s, m, h or d (10s to 30d).
    #[arg(
        long,
        env = "LEAF_BACKUP_EVERY",
        default_value = "1h",
        value_name = "INTERVAL"
    )]
    pub backup_every: crate::backup::BackupEvery,

    /// How many backups to keep; older ones are removed after each new one.
    #[arg(long, env = "LEAF_BACKUP_KEEP", default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub backup_keep: u32,
}

impl BackupFlags {
    /// The schedule these flags ask for; `None` without `--backup-dir`.
    pub fn schedule(&self) -> Option<crate::backup::Schedule> {
        let dir = self.backup_dir.clone()?;
        Some(crate::backup::Schedule {
            dir,
            every: self.backup_every.duration(),
            keep: self.backup_keep as usize,
        })
    }
}

impl Config {
    /// The connection limits these flags ask for.
    pub fn connection_limits(&self) -> crate::app::ConnectionLimits {
        crate::app::ConnectionLimits {
            total: self.max_connections as usize,
            per_address: self.max_connections_per_address as usize,
            header_read: std::time::Duration::from_secs(self.header_read_timeout),
        }
    }
}

impl Config {
    /// The WebSocket clients' settings these flags ask for.
    pub fn clients(&self) -> crate::hub::ClientConfig {
        crate::hub::ClientConfig {
            max_lobby_clients: self.max_lobby_sockets as usize,
            ..Default::default()
        }
    }

    /// The budget of client reads these flags ask for.
    pub fn read_budget(&self) -> crate::feed::ReadBudget {
        let rate = f64::from(self.log_pages_per_token_per_second);
        crate::feed::ReadBudget::with_rate(
            self.max_log_reads as usize,
            self.max_log_reads_per_token as usize,
            rate,
            2.0 * rate,
        )
    }
}

/// `--metrics-token`: long enough not to be guessed, and nothing a header would mangle.
fn metrics_token(s: &str) -> Result<String, String> {
    if s.len() < 16 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("16 or more visible ASCII characters (no spaces)".into());
    }
    Ok(s.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl CentralFlags {
    /// What `config` has that the central reader does not do, or lacks that it needs; `None`
    /// when nothing, or when it is not the central reader.
    pub fn refusal(config: &Config) -> Option<&'static str> {
        let central = &config.central;
        if !central.enabled {
            return central.nats_credentials.is_some().then_some(
                "--nats-credentials is for the central reader (--central); a venue's leaf signs in to its --nats-url with --nats-token",
            );
        }
        if config.nats_url.is_none() {
            Some("--central needs --nats-url: the central cluster to read")
        } else if !config.uplink.uplink_urls.is_empty() {
            Some(
                "--central and --uplink-url: the central reader reads the venues' copies, it has no uplink of its own",
            )
        } else if config.backups.backup_dir.is_some() {
            Some(
                "--central and --backup-dir: the central reader keeps nothing to back up (the central cluster holds the copies)",
            )
        } else if config.tls.http_redirect.is_some() {
            Some("--http-redirect is not served by the central reader")
        } else if config.metrics_token.is_some() {
            Some("--metrics-token: the central reader serves no /metrics")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_central_reader_refuses_what_it_does_not_do_and_a_venue_is_left_alone() {
        let refusal = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["leaf"], args].concat()).unwrap();
            CentralFlags::refusal(&cli.config)
        };
        let url = ["--nats-url", "nats://c1:4222,nats://c2:4222"];
        assert_eq!(refusal(&["--central", url[0], url[1]]), None);
        assert!(
            refusal(&["--central"])
                .unwrap()
                .contains("needs --nats-url")
        );
        for extra in [
            &["--backup-dir", "/b"][..],
            &["--uplink-url", "nats-leaf://c:7422", "--venue-id", "east"],
            &["--metrics-token", "0123456789abcdef"],
        ] {
            let args = [&["--central", url[0], url[1]][..], extra].concat();
            assert!(refusal(&args).is_some(), "{extra:?}");
        }
        // Without --central, those are a venue's own business.
        assert_eq!(refusal(&["--backup-dir", "/b"]), None);
        assert!(
            refusal(&["--nats-credentials", "/c"])
                .unwrap()
                .contains("central reader")
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Cli::try_parse_from(["leaf"]).unwrap().config;
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert!(!c.dev);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(
            (
                c.max_connections,
                c.max_connections_per_address,
                c.header_read_timeout
            ),
            (16_384, 256, 10)
        );
        assert_eq!(
            (
                c.max_lobby_sockets,
                c.max_log_reads,
                c.max_log_reads_per_token,
                c.log_pages_per_token_per_second
            ),
            (1024, 32, 4, 20)
        );
    }

    #[test]
    fn bad_flags_are_rejected_with_a_reason() {
        for args in [
            vec!["leaf", "--no-such-flag"],
            vec!["leaf", "--addr", "not-an-address"],
            vec!["leaf", "--addr", "127.0.0.1:99999"],
            vec!["leaf", "--log-format", "xml"],
            vec!["leaf", "--max-connections", "0"],
            vec!["leaf", "--log-pages-per-token-per-second", "0"],
            vec!["leaf", "--max-connections-per-address", "-1"],
            vec!["leaf", "--header-read-timeout", "0"],
            vec!["leaf", "--header-read-timeout", "forever"],
            vec!["leaf", "--max-lobby-sockets", "0"],
            vec!["leaf", "--max-log-reads", "none"],
            vec!["leaf", "--max-log-reads-per-token", "0"],
            vec!["leaf", "--metrics-token", ""],
            vec!["leaf", "--metrics-token", "short"],
            vec!["leaf", "--metrics-token", "sixteen chars ok"],
            vec!["leaf", "--backup-every", "5s"],
            vec!["leaf", "--backup-keep", "0"],
            vec!["leaf", "--venue-id", "main"],
            vec!["leaf", "--uplink-url", "nats-leaf://c:7422"],
            vec![
                "leaf",
                "--uplink-url",
                "nats-leaf://c:7422",
                "--venue-id",
                "Main",
            ],
            vec![
                "leaf",
                "--uplink-url",
                "nats-leaf://c:7422",
                "--venue-id",
                "a.b",
            ],
        ] {
            let err = Cli::try_parse_from(&args).unwrap_err();
            assert!(!err.to_string().is_empty(), "{args:?}");
        }
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn td_subcommands_take_the_data_dir_before_or_after() {
        for args in [
            vec!["leaf", "--data-dir", "/d", "td", "add", "alice"],
            vec!["leaf", "td", "add", "alice", "--data-dir", "/d"],
        ] {
            let cli = Cli::try_parse_from(&args).unwrap();
            assert_eq!(cli.config.data_dir, PathBuf::from("/d"));
            assert!(
                matches!(cli.command, Some(Command::Td(TdCommand::Add { ref name })) if name == "alice")
            );
        }
    }
}
