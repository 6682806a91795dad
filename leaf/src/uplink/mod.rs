//! The uplink: this venue's log replicated to a central NATS cluster, with nothing of it
//! home-made. The engine's own mechanisms do the work:
//!
//! ```text
//!  venue box                                        central cluster (3 nodes, domain "central")
//!  leaf ── nats-server (domain venue-<id>) ══leafnode══▶ VENUE_<id>_STATE  (R3, no subjects,
//!          STATE, AUDIT                                  VENUE_<id>_AUDIT   sources through
//!                                                                         $JS.venue-<id>.API)
//! ```
//!
//! - The supervised nats-server gets a JetStream domain from the venue id and a
//!   `leafnodes.remotes` entry ([`Uplink::remote`]); it keeps the link up by itself, offline
//!   or not. Tournament subjects never cross the link (denied both ways): the central
//!   streams pull the venue's through its domain's API, and a venue never hears another's.
//! - When the link comes up, leaf creates or updates the venue's two central streams
//!   ([`central`]): sources of the venue's `STATE` and `AUDIT`, with subject transforms to
//!   `venue.<id>.tournament.…`. Adding a venue is these flags on that venue.
//! - nats-server retries a source it lost after a back-off of up to 2 minutes; leaf nudges
//!   the central streams when the link returns ([`link`]) so catch-up takes seconds.
//! - Two venues with one id would mix their messages in one central copy, and nats-server
//!   does not notice: each leaf answers for its id, and asks who else does (`claim`).
//! - [`status`] is what health and `leaf uplink status` show: the link, and how many messages
//!   of each stream the central copy still lacks.

pub mod central;
mod claim;
pub mod cli;
mod credentials;
pub mod files;
pub mod link;
pub mod status;
mod venue;

pub use self::credentials::{CredentialsError, RemoteAuth};
pub use self::link::Link;
pub use self::status::UplinkStatus;
pub use self::venue::{InvalidVenueId, VenueId};

use crate::config::UplinkFlags;

/// The oldest nats-server an uplink runs on: `ignore_discovered_servers` came in 2.14.0,
/// and the source fixes of 2.12.8, 2.12.9 and 2.12.12 are in 2.14.
pub const MIN_VERSION: crate::log::supervisor::Version = crate::log::supervisor::Version(2, 14, 0);

/// The central cluster's JetStream domain unless `--uplink-domain` says otherwise.
pub const DEFAULT_CENTRAL_DOMAIN: &str = "central";

/// What the uplink flags ask for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub venue: VenueId,
    /// The central cluster's leafnode URLs, without credentials.
    pub urls: Vec<url::Url>,
    pub auth: RemoteAuth,
    /// The central cluster's JetStream domain: its API is `$JS.<domain>.API` from here.
    pub central_domain: String,
    /// Replicas of each central stream.
    pub replicas: usize,
}

/// Where the venue's copy lives: what the watcher needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub venue: VenueId,
    pub central_domain: String,
    pub replicas: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("--uplink-url {url:?}: {why}")]
    BadUrl { url: String, why: String },
    #[error(
        "--uplink-domain {0:?}: a JetStream domain is one subject token (no '.', '*', '>' or spaces)"
    )]
    BadDomain(String),
    #[error("--uplink-domain {domain:?} is this venue's own domain")]
    SameDomain { domain: String },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(
        "--uplink-url needs leaf's own nats-server: with --nats-url, set up the leafnode link and the domain on that server"
    )]
    ExternalServer,
}

/// The URL schemes of a leafnode connection.
const SCHEMES: [&str; 5] = ["nats-leaf", "nats", "tls", "ws", "wss"];

impl Uplink {
    /// `None` when no uplink is asked for.
    pub fn from_flags(flags: &UplinkFlags) -> Result<Option<Self>, UplinkError> {
        let Some(venue) = flags.venue_id.clone() else {
            return Ok(None);
        };
        if flags.uplink_urls.is_empty() {
            return Ok(None);
        }
        let auth = match &flags.uplink_credentials {
            Some(path) => RemoteAuth::read(path)?,
            None => RemoteAuth::None,
        };
        let urls = flags
            .uplink_urls
            .iter()
            .map(|text| parse_url(text))
            .collect::<Result<Vec<_>, _>>()?;
        let central_domain = flags
            .uplink_domain
            .clone()
            .unwrap_or_else(|| DEFAULT_CENTRAL_DOMAIN.to_owned());
        if central_domain.is_empty()
            || central_domain
                .chars()
                .any(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
        {
            return Err(UplinkError::BadDomain(central_domain));
        }
        if central_domain == venue.domain() {
            return Err(UplinkError::SameDomain {
                domain: central_domain,
            });
        }
        Ok(Some(Self {
            venue,
            urls,
            auth,
            central_domain,
            replicas: flags.uplink_replicas.map_or(central::REPLICAS, usize::from),
        }))
    }

    pub fn target(&self) -> Target {
        Target {
            venue: self.venue.clone(),
            central_domain: self.central_domain.clone(),
            replicas: self.replicas,
        }
    }

    /// The `leafnodes.remotes` entry, the domain and the name of the venue's nats-server;
    /// `box_name` from [`box_name`].
    pub fn remote(&self, box_name: &str) -> crate::log::supervisor::LeafRemote {
        let urls = self
            .urls
            .iter()
            .map(|url| {
                let mut url = url.clone();
                // Both set_* only fail on URLs that cannot have credentials, which
                // `parse_url` refused.
                match &self.auth {
                    RemoteAuth::User { user, password } => {
                        let _ = url.set_username(user);
                        let _ = url.set_password(Some(password));
                    }
                    RemoteAuth::Token(token) => {
                        let _ = url.set_username(token);
                    }
                    RemoteAuth::None | RemoteAuth::CredsFile(_) | RemoteAuth::Nkey(_) => {}
                }
                url.to_string()
            })
            .collect();
        crate::log::supervisor::LeafRemote {
            server_name: format!("venue-{}-{box_name}", self.venue),
            domain: self.venue.domain(),
            urls,
            credentials: match &self.auth {
                RemoteAuth::CredsFile(path) => Some(path.clone()),
                _ => None,
            },
            nkey: match &self.auth {
                RemoteAuth::Nkey(seed) => Some(seed.clone()),
                _ => None,
            },
        }
    }
}

/// A URL as an error may show it: whatever sits before an `@` may be a password.
fn redacted(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &text[..scheme], &text[at + 1..])
        }
        (None, Some(at)) => format!("…@{}", &text[at + 1..]),
        _ => text.to_owned(),
    }
}

/// Eight hex digits naming this venue box, made once and kept in `nats/box-name`: the venue's
/// server is `venue-<id>-<box>` on the central cluster. Two boxes with one venue id must be
/// two servers there: the central cluster takes a second leafnode connection under a name
/// it holds as the first one back, pushing the other off (the two would take turns every
/// second), and only two connected servers let each leaf see the other (`claim`). So the
/// name is bound to this machine and this data dir's place: a data dir copied to another box
/// or path gets a name of its own.
pub fn box_name(nats_dir: &std::path::Path) -> std::io::Result<String> {
    crate::datadir::create_private_dir(nats_dir)?;
    let path = nats_dir.join("box-name");
    let owner = box_owner(nats_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            if let Some((name, of)) = text.trim().split_once(' ')
                && is_box_name(name)
                && of == owner
            {
                return Ok(name.to_owned());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    files::write_atomically(&path, format!("{name} {owner}\n").as_bytes(), true)?;
    Ok(name)
}

/// This machine (its systemd machine id, when it has one) and this data dir's place.
fn box_owner(nats_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let place = std::fs::canonicalize(nats_dir).unwrap_or_else(|_| nats_dir.to_owned());
    let mut hash = sha2::Sha256::new();
    hash.update(machine.trim().as_bytes());
    hash.update([0]);
    hash.update(place.as_os_str().as_encoded_bytes());
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_box_name(text: &str) -> bool {
    text.len() == 8
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn parse_url(text: &str) -> Result<url::Url, UplinkError> {
    let bad = |why: &str| UplinkError::BadUrl {
        url: redacted(text),
        why: why.to_owned(),
    };
    let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !SCHEMES.contains(&url.scheme()) {
        return Err(bad(
            "the scheme must be nats-leaf://, nats://, tls://, ws:// or wss://",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    if !url.path().trim_matches('/').is_empty() || url.query().is_some() || url.fragment().is_some()
    {
        return Err(bad(
            "a leafnode URL is a host and a port, nothing after them",
        ));
    }
    // The URLs are flags: on the command line every local user reads them in /proc.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "it carries credentials: put them in a file named by --uplink-credentials",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(urls: &[&str]) -> UplinkFlags {
        UplinkFlags {
            uplink_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            venue_id: Some("main-hall".parse().unwrap()),
            uplink_credentials: None,
            uplink_domain: None,
            uplink_replicas: None,
        }
    }

    #[test]
    fn the_box_name_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = box_name(dir.path()).unwrap();
        assert!(is_box_name(&first), "{first}");
        assert_eq!(box_name(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("box-name"), "not a name\n").unwrap();
        let again = box_name(dir.path()).unwrap();
        assert!(is_box_name(&again) && again != "not a name");
        // A copy of the data dir elsewhere is another box.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::copy(
            dir.path().join("box-name"),
            elsewhere.path().join("box-name"),
        )
        .unwrap();
        assert_ne!(box_name(elsewhere.path()).unwrap(), again);
    }

    #[test]
    fn no_flags_no_uplink() {
        assert_eq!(Uplink::from_flags(&UplinkFlags::default()).unwrap(), None);
    }

    #[test]
    fn urls_are_checked_and_credentials_go_into_them() {
        let uplink = Uplink::from_flags(&flags(&["nats-leaf://c1:7422", "tls://c2.example:7422"]))
            .unwrap()
            .unwrap();
        assert_eq!(uplink.central_domain, "central");
        let remote = uplink.remote("0a1b2c3d");
        assert_eq!(remote.domain, "venue-main-hall");
        assert_eq!(remote.server_name, "venue-main-hall-0a1b2c3d");
        assert_eq!(
            remote.urls,
            ["nats-leaf://c1:7422", "tls://c2.example:7422"]
        );

        let with_user = Uplink {
            auth: RemoteAuth::User {
                user: "main-hall".into(),
                password: "p@ss w:rd".into(),
            },
            ..uplink.clone()
        };
        assert_eq!(
            with_user.remote("0a1b2c3d").urls[0],
            "nats-leaf://main-hall:p%40ss%20w%3Ard@c1:7422"
        );
        let with_token = Uplink {
            auth: RemoteAuth::Token("t0ken".into()),
            ..uplink
        };
        assert_eq!(
            with_token.remote("0a1b2c3d").urls[0],
            "nats-leaf://t0ken@c1:7422"
        );
    }

    #[test]
    fn bad_urls_and_domains_are_refused_with_a_reason() {
        for url in [
            "c1:7422",
            "http://c1:7422",
            "nats-leaf://",
            "nats-leaf://c1:7422/path",
            "nats-leaf://c1:99999",
        ] {
            let err = Uplink::from_flags(&flags(&[url])).unwrap_err();
            assert!(matches!(err, UplinkError::BadUrl { .. }), "{url}: {err}");
        }
        for domain in ["", "a.b", "a b", "*", "venue-main-hall"] {
            let mut f = flags(&["nats-leaf://c1:7422"]);
            f.uplink_domain = Some(domain.into());
            assert!(Uplink::from_flags(&f).is_err(), "{domain:?}");
        }
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_never_shown() {
        for url in [
            "nats-leaf://x:s3cret@c1:7422",
            "nats-leaf://x:s3cret@c1:7422/path",
            "x:s3cret@c1",
        ] {
            let err = Uplink::from_flags(&flags(&[url])).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
        let err = Uplink::from_flags(&flags(&["nats-leaf://x:s3cret@c1:7422"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--uplink-credentials"), "{err}");
        let uplink = Uplink {
            auth: RemoteAuth::User {
                user: "east".into(),
                password: "s3cret".into(),
            },
            ..Uplink::from_flags(&flags(&["nats-leaf://c1:7422"]))
                .unwrap()
                .unwrap()
        };
        assert!(!format!("{uplink:?}").contains("s3cret"));
    }
}
