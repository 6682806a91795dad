//! `leaf tls self-signed`: a certificate for a venue with no certificate authority of its own.
//!
//! A bare self-signed server certificate would have to be trusted again on every laptop each
//! time the box's address changes. So this makes a small local authority once (`ca.pem`, the
//! file TDs install; `ca.key`, which stays on the box) and signs a short-lived server
//! certificate with it on every run. The authority is never replaced behind anyone's back:
//! if its files are half there, unreadable or do not belong together, the command refuses.
//!
//! Files, all in one dir (0700): `ca.pem` (0644), `ca.key` (0600), `cert.pem` (the server
//! certificate, then `ca.pem`'s, 0644) and `key.pem` (0600). Each is written under a
//! temporary name, synced and renamed into place, so a running leaf (which reloads when
//! `cert.pem` or `key.pem` changes) never reads half a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::names;
pub use super::names::Name;

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const CERT: &str = "cert.pem";
pub const KEY: &str = "key.pem";

/// The authority outlives many server certificates: laptops trust it once.
const CA_VALIDITY: Duration = Duration::days(3652);
/// Apple refuses server certificates valid for more than 825 days from an authority a user
/// installed; 800 leaves a margin for clocks.
const CERT_VALIDITY: Duration = Duration::days(800);
/// How far back validity starts, so a laptop whose clock is a little behind the box's does
/// not see a certificate "not yet valid".
const CLOCK_SKEW: Duration = Duration::hours(1);

const PRIVATE: u32 = 0o600;
const PUBLIC: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{present} exists but {missing} does not; the certificate authority needs both. Put the missing file back; if no laptop trusts this authority yet, delete {present} and run again to make a new one"
    )]
    LoneCaFile { present: PathBuf, missing: PathBuf },
    #[error(
        "cannot use {path} as the certificate authority: {reason}. Put back the right file; to start over with a new authority, move ca.pem and ca.key away (every laptop must then trust the new ca.pem)"
    )]
    BadCa { path: PathBuf, reason: String },
    #[error(
        "{key} is not the key of {cert}; put back the matching pair, or move both away to make a new authority (every laptop must then trust the new ca.pem)"
    )]
    CaMismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "the certificate authority {ca} expired on {on}; move ca.pem and ca.key away and run again to make a new one (every laptop must then trust the new ca.pem)"
    )]
    CaExpired { ca: PathBuf, on: time::Date },
    #[error(
        "a certificate signed with {ca} does not verify against it ({reason}); nothing was written. If the authority is not one leaf made, move ca.pem and ca.key away to make a new one"
    )]
    CaRejected { ca: PathBuf, reason: String },
    #[error(
        "another certificate authority appeared in {dir} while this one was being made (a second run?); run again to use it"
    )]
    CaAppeared { dir: PathBuf },
    #[error("no names to put in the certificate")]
    NoNames,
    #[error("{name} cannot go into a certificate: {reason}")]
    BadName { name: String, reason: String },
    #[error("cannot make the certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// What [`issue`] wrote.
#[derive(Debug, Clone)]
pub struct Issued {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether `ca_cert` is a new authority (every laptop must trust it) or the one kept.
    pub ca_created: bool,
    pub names: Vec<Name>,
    pub not_after: OffsetDateTime,
}

/// The CLI: finds the box's names, issues into `--out` (default DATA_DIR/tls) and prints
/// what was written and how to use it.
pub async fn run(args: crate::config::SelfSignedArgs, data_dir: &Path) -> anyhow::Result<()> {
    let dir = args.out.unwrap_or_else(|| data_dir.join("tls"));
    let extra = args.names;
    let issued = tokio::task::spawn_blocking(move || -> anyhow::Result<Issued> {
        let names = names::box_names(&extra)?;
        Ok(issue(&dir, &names, OffsetDateTime::now_utc())?)
    })
    .await
    .context("making the certificate failed")??;
    print!("{}", instructions(&issued));
    Ok(())
}

/// Makes (or loads) the authority in `dir`, then a new key and a certificate it signs for
/// `names`, valid from `now`. Nothing in `dir` changes unless the new certificate verifies
/// against the authority for every name.
pub fn issue(dir: &Path, names: &[Name], now: OffsetDateTime) -> Result<Issued, SelfSignedError> {
    if names.is_empty() {
        return Err(SelfSignedError::NoNames);
    }
    crate::datadir::create_private_dir(dir).map_err(io_at(dir))?;
    // Absolute, so the printed flags work from any directory.
    let dir = dir.canonicalize().map_err(io_at(dir))?;
    // Whole seconds in UTC: that is all a certificate holds, and `Issued` should say what it
    // holds.
    let now = now.to_offset(UtcOffset::UTC) - Duration::nanoseconds(now.nanosecond().into());

    let (ca, ca_created) = match load_ca(&dir)? {
        Some(ca) => (ca, false),
        None => (new_ca(now)?, true),
    };
    // Browsers refuse a certificate whose authority has expired, though rustls's check
    // below does not look at the authority's dates: checked here. The certificate ends with
    // its authority at the latest, so `not_after` says when to run again.
    if ca.not_after <= now {
        return Err(SelfSignedError::CaExpired {
            ca: dir.join(CA_CERT),
            on: ca.not_after.date(),
        });
    }
    let not_after = (now + CERT_VALIDITY).min(ca.not_after);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    // No serial number is set: rcgen derives one from the new public key, so every run's
    // certificate has its own (Firefox rejects two certificates sharing issuer and serial).
    let cert = server_params(names, now - CLOCK_SKEW, not_after)?.signed_by(&key, &ca.issuer)?;
    verify(&dir, &ca.der, cert.der(), names, now)?;

    let mut staged = Vec::new();
    if ca_created {
        // The key first: a run cut short between the two leaves a lone ca.key, which nobody
        // trusts yet, never a lone ca.pem someone might already have installed.
        staged.push(Staged::write(&dir, CA_KEY, ca.key_pem.as_bytes(), PRIVATE)?);
        staged.push(Staged::write(&dir, CA_CERT, ca.pem.as_bytes(), PUBLIC)?);
    }
    let chain = format!("{}{}", cert.pem(), ca.pem);
    let key_file = Staged::write(&dir, KEY, key.serialize_pem().as_bytes(), PRIVATE)?;
    let cert_file = Staged::write(&dir, CERT, chain.as_bytes(), PUBLIC)?;
    for file in staged {
        file.publish_new(&dir)?;
    }
    // A running leaf reloads on either change and waits for the two to match; renaming them
    // back to back keeps the mismatched moment short.
    let key_path = key_file.replace()?;
    let cert_path = cert_file.replace()?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(&dir))?;
    Ok(Issued {
        ca_cert: dir.join(CA_CERT),
        cert: cert_path,
        key: key_path,
        ca_created,
        names: names.to_vec(),
        not_after,
    })
}

/// The authority: its certificate and the issuer that signs with its key.
struct Ca {
    der: CertificateDer<'static>,
    /// The certificate as written into `cert.pem` (and `ca.pem` when new).
    pem: String,
    /// The authority's key, written out only when the authority is new.
    key_pem: String,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(now: OffsetDateTime) -> Result<Ca, SelfSignedError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let host = names::hostname().unwrap_or_else(|_| "unnamed box".to_owned());
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("leaf local CA ({host})"));
    dn.push(DnType::OrganizationName, "Felt leaf");
    params.distinguished_name = dn;
    // Constrained(0): it signs server certificates, never another authority.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + CA_VALIDITY;
    let cert = params.self_signed(&key)?;
    Ok(Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
        issuer: Issuer::new(params, key),
    })
}

/// The authority in `dir`, or none if neither of its files is there.
fn load_ca(dir: &Path) -> Result<Option<Ca>, SelfSignedError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    let (cert_pem, key_pem) = match (read_if_there(&cert_path)?, read_if_there(&key_path)?) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(SelfSignedError::LoneCaFile {
                present: cert_path,
                missing: key_path,
            });
        }
        (None, Some(_)) => {
            return Err(SelfSignedError::LoneCaFile {
                present: key_path,
                missing: cert_path,
            });
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let bad = |path: &Path, reason: String| SelfSignedError::BadCa {
        path: path.to_path_buf(),
        reason,
    };
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| bad(&key_path, format!("not a PEM private key ({e})")))?;
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| bad(&cert_path, format!("not a PEM certificate ({e})")))?;
    // The certificate carries its public key as the very SubjectPublicKeyInfo the key
    // encodes to (DER has one encoding), so a matching pair contains it byte for byte.
    let spki = key.subject_public_key_info();
    if !der.windows(spki.len()).any(|w| w == spki.as_slice()) {
        return Err(SelfSignedError::CaMismatch {
            cert: cert_path,
            key: key_path,
        });
    }
    let not_after = not_after(&der)
        .ok_or_else(|| bad(&cert_path, "its validity dates cannot be read".to_owned()))?;
    let issuer = Issuer::from_ca_cert_der(&der, key)
        .map_err(|e| bad(&cert_path, format!("not a usable certificate ({e})")))?;
    Ok(Some(Ca {
        pem: pem_certificate(&der),
        der,
        key_pem,
        not_after,
        issuer,
    }))
}

/// The contents of `path` as text, or none if it does not exist.
fn read_if_there(path: &Path) -> Result<Option<String>, SelfSignedError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| SelfSignedError::BadCa {
                path: path.to_path_buf(),
                reason: "it is not PEM text".to_owned(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_at(path)(e)),
    }
}

fn server_params(
    names: &[Name],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, SelfSignedError> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = names
        .iter()
        .map(|name| match name {
            Name::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            Name::Dns(dns) => {
                dns.as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e: rcgen::Error| SelfSignedError::BadName {
                        name: dns.clone(),
                        reason: e.to_string(),
                    })
            }
        })
        .collect::<Result<_, _>>()?;
    // Browsers look only at the alternative names; the common name is for people reading it.
    let common = names
        .iter()
        .find(|n| matches!(n, Name::Dns(_)))
        .or(names.first())
        .ok_or(SelfSignedError::NoNames)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common.to_string());
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Lets clients find the issuer by key, not only by name.
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    Ok(params)
}

/// Checks `cert` the way a client that trusts `ca` would, for every name, before anything is
/// written: the last line of defence against an authority whose key is not its own. (rustls
/// does not check a trusted authority's own dates or constraints.)
fn verify(
    dir: &Path,
    ca: &CertificateDer<'static>,
    cert: &CertificateDer<'static>,
    names: &[Name],
    now: OffsetDateTime,
) -> Result<(), SelfSignedError> {
    let rejected = |reason: String| SelfSignedError::CaRejected {
        ca: dir.join(CA_CERT),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| rejected(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| rejected(e.to_string()))?;
    let seconds = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
    for name in names {
        let server_name = match name {
            Name::Ip(ip) => ServerName::IpAddress((*ip).into()),
            // A wildcard is checked with one name it covers.
            Name::Dns(dns) => {
                let host = match dns.strip_prefix("*.") {
                    Some(rest) => format!("wildcard-check.{rest}"),
                    None => dns.clone(),
                };
                ServerName::try_from(host).map_err(|e| SelfSignedError::BadName {
                    name: dns.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        verifier
            .verify_server_cert(cert, &[], &server_name, &[], now)
            .map_err(|e| rejected(format!("for {name}: {e}")))?;
    }
    Ok(())
}

/// PEM text of a certificate, as `ca.pem` holds it.
fn pem_certificate(der: &[u8]) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in base64.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is whole characters.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// When a certificate (DER) stops being valid: the one date of a trusted authority that
/// rustls does not check, and rcgen keeps to itself.
fn not_after(certificate: &[u8]) -> Option<OffsetDateTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    Some(parsed.validity().not_after.to_datetime())
}

/// A file written in full and synced under a temporary name beside its destination; removed
/// if it is dropped before being put in place.
struct Staged {
    temporary: PathBuf,
    destination: PathBuf,
}

impl Staged {
    fn write(dir: &Path, name: &str, contents: &[u8], mode: u32) -> Result<Self, SelfSignedError> {
        // The pid keeps two runs at once from writing into each other's file.
        let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        // A leftover from a crashed run could have other permissions; `mode` applies only to
        // a file created now.
        match fs::remove_file(&temporary) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_at(&temporary)(e)),
            _ => {}
        }
        let staged = Self {
            temporary,
            destination: dir.join(name),
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&staged.temporary)
            .map_err(io_at(&staged.temporary))?;
        // The umask may have taken bits off a public file; a private one only gets stricter.
        if mode == PUBLIC {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io_at(&staged.temporary))?;
        }
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(io_at(&staged.temporary))?;
        Ok(staged)
    }

    /// Puts the file in place, replacing what was there.
    fn replace(self) -> Result<PathBuf, SelfSignedError> {
        fs::rename(&self.temporary, &self.destination).map_err(io_at(&self.destination))?;
        Ok(self.destination.clone())
    }

    /// Puts the file in place only if nothing is there: a hard link cannot replace, so an
    /// authority another run made meanwhile is kept. Where links are not supported (some
    /// removable media), a check and a rename do.
    fn publish_new(self, dir: &Path) -> Result<PathBuf, SelfSignedError> {
        match fs::hard_link(&self.temporary, &self.destination) {
            Ok(()) => Ok(self.destination.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(SelfSignedError::CaAppeared {
                    dir: dir.to_path_buf(),
                })
            }
            Err(_) if fs::symlink_metadata(&self.destination).is_ok() => {
                Err(SelfSignedError::CaAppeared {
                    dir: dir.to_path_buf(),
                })
            }
            Err(_) => self.replace(),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After a rename there is nothing left here; after a link, the spare name goes.
        let _ = fs::remove_file(&self.temporary);
    }
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> SelfSignedError + '_ {
    move |source| SelfSignedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the CLI prints after [`issue`]: the files, the names, how to start leaf with them
/// and how to make a TD's laptop or phone trust the authority.
fn instructions(issued: &Issued) -> String {
    let dir = issued.cert.parent().unwrap_or(Path::new("."));
    let names = issued
        .names
        .iter()
        .map(Name::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let authority = if issued.ca_created {
        "a NEW certificate authority: every TD's laptop or phone must trust it once (below)"
    } else {
        "the certificate authority made before, kept: devices that trust it already need nothing new"
    };
    format!(
        "\
Wrote to {dir}:
  {ca_pem:<10}{authority}
  {ca_key:<10}its private key; keep it secret and on this box: whoever has it can impersonate
            any website to every device that trusts ca.pem
  {cert:<10}this box's certificate, followed by ca.pem's; valid until {until}
  {key:<10}its private key

The certificate covers: {names}

Start leaf with:
  leaf --tls-cert {cert_path} --tls-key {key_path}
and, to serve the usual ports with plain HTTP redirected to HTTPS:
  leaf --tls-cert {cert_path} --tls-key {key_path} --addr 0.0.0.0:443 --http-redirect 0.0.0.0:80

Trust the authority on each TD's laptop or phone: copy {ca_path} to it, then
  macOS:          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ca.pem
  Windows:        certutil -addstore -f ROOT ca.pem   (in a terminal run as administrator)
  Debian/Ubuntu:  sudo cp ca.pem /usr/local/share/ca-certificates/leaf-ca.crt && sudo update-ca-certificates
  Firefox:        keeps its own list: Settings → Privacy & Security → Certificates → View Certificates
                  → Authorities → Import, and tick \"trust this CA to identify websites\"
  iPhone/iPad:    send ca.pem to it (AirDrop, mail), install the profile in Settings, then turn on full
                  trust in Settings → General → About → Certificate Trust Settings
  Android:        send ca.pem to it and install it as a CA certificate (Settings → Security →
                  Install a certificate; the menu differs between makers)

Run `leaf tls self-signed` again (with the same --name options) when this box's name or address
changes, and before {until}; ca.pem stays the same, and a running leaf picks up the new
certificate by itself.
",
        dir = dir.display(),
        ca_pem = CA_CERT,
        ca_key = CA_KEY,
        cert = CERT,
        key = KEY,
        until = issued.not_after.date(),
        cert_path = issued.cert.display(),
        key_path = issued.key.display(),
        ca_path = issued.ca_cert.display(),
    )
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn names() -> Vec<Name> {
        vec![
            Name::Dns("leafbox".to_owned()),
            Name::Dns("localhost".to_owned()),
            Name::Dns("*.venue.example".to_owned()),
            Name::Ip("127.0.0.1".parse().unwrap()),
            Name::Ip("::1".parse().unwrap()),
        ]
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// Checks `issued`'s cert.pem the way a browser trusting its ca.pem would.
    fn check(issued: &Issued, name: &str) -> Result<(), rustls::Error> {
        let ca = CertificateDer::from_pem_file(&issued.ca_cert).unwrap();
        let chain: Vec<_> = CertificateDer::pem_file_iter(&issued.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(chain.len(), 2, "server certificate, then the authority's");
        assert_eq!(chain[1], ca);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let server_name = match name.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(name.to_owned()).unwrap(),
        };
        verifier
            .verify_server_cert(&chain[0], &chain[1..], &server_name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_new_authority_and_certificate_are_written_privately() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("tls");
        let issued = issue(&dir, &names(), OffsetDateTime::now_utc()).unwrap();

        assert!(issued.ca_created);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CA_KEY)), 0o600);
        assert_eq!(mode(&issued.key), 0o600);
        assert_eq!(mode(&issued.ca_cert), 0o644);
        assert_eq!(mode(&issued.cert), 0o644);
        let mut left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [CA_KEY, CA_CERT, CERT, KEY], "no temporaries left");
        // rustls can load the key leaf will serve with.
        rustls::pki_types::PrivateKeyDer::from_pem_file(&issued.key).unwrap();
        let days = (issued.not_after - OffsetDateTime::now_utc()).whole_days();
        assert!((799..=800).contains(&days), "{days}");
    }

    #[test]
    fn the_certificate_chains_to_the_authority_for_its_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let issued = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap();
        for name in [
            "localhost",
            "leafbox",
            "screens.venue.example",
            "127.0.0.1",
            "::1",
        ] {
            check(&issued, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in ["leaf.example", "venue.example", "10.0.0.1"] {
            let err = check(&issued, name).unwrap_err();
            assert!(
                matches!(
                    err,
                    rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName
                            | rustls::CertificateError::NotValidForNameContext { .. }
                    )
                ),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn a_second_run_keeps_the_authority_and_makes_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap();
        let ca_pem = fs::read(&first.ca_cert).unwrap();
        let ca_key = fs::read(dir.path().join(CA_KEY)).unwrap();
        let key = fs::read(&first.key).unwrap();

        let second = issue(
            dir.path(),
            &[Name::Dns("other.example".to_owned())],
            OffsetDateTime::now_utc(),
        )
        .unwrap();

        assert!(!second.ca_created);
        assert_eq!(fs::read(&second.ca_cert).unwrap(), ca_pem);
        assert_eq!(fs::read(dir.path().join(CA_KEY)).unwrap(), ca_key);
        assert_ne!(fs::read(&second.key).unwrap(), key);
        check(&second, "other.example").unwrap();
        assert!(
            check(&second, "localhost").is_err(),
            "the old names are gone"
        );
    }

    #[test]
    fn a_lone_ca_file_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CA_CERT), b"trusted by laptops").unwrap();
        let err = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap_err();
        assert!(matches!(err, SelfSignedError::LoneCaFile { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("ca.pem") && text.contains("ca.key"), "{text}");
        assert_eq!(
            fs::read(dir.path().join(CA_CERT)).unwrap(),
            b"trusted by laptops"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CA_KEY), b"secret").unwrap();
        let err = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap_err();
        assert!(matches!(err, SelfSignedError::LoneCaFile { .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_garbage_authority_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap();
        let cert_before = fs::read(dir.path().join(CERT)).unwrap();
        fs::write(dir.path().join(CA_CERT), b"not a certificate").unwrap();
        let err = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap_err();
        assert!(matches!(err, SelfSignedError::BadCa { .. }), "{err}");
        assert!(err.to_string().contains("ca.pem"), "{err}");
        assert_eq!(
            fs::read(dir.path().join(CA_CERT)).unwrap(),
            b"not a certificate"
        );
        assert_eq!(fs::read(dir.path().join(CERT)).unwrap(), cert_before);
    }

    #[test]
    fn an_authority_with_another_key_is_refused() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        issue(first.path(), &names(), OffsetDateTime::now_utc()).unwrap();
        issue(second.path(), &names(), OffsetDateTime::now_utc()).unwrap();
        fs::copy(first.path().join(CA_KEY), second.path().join(CA_KEY)).unwrap();
        let err = issue(second.path(), &names(), OffsetDateTime::now_utc()).unwrap_err();
        assert!(matches!(err, SelfSignedError::CaMismatch { .. }), "{err}");
    }

    #[test]
    fn an_expired_authority_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let long_ago = OffsetDateTime::now_utc() - Duration::days(4000);
        issue(dir.path(), &names(), long_ago).unwrap();
        let err = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap_err();
        assert!(matches!(err, SelfSignedError::CaExpired { .. }), "{err}");
        assert!(err.to_string().contains("expired on"), "{err}");
    }

    #[test]
    fn a_certificate_ends_with_its_authority_at_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let first = issue(dir.path(), &names(), now - Duration::days(3600)).unwrap();
        let ca_end = not_after(&CertificateDer::from_pem_file(&first.ca_cert).unwrap());
        let second = issue(dir.path(), &names(), now).unwrap();
        assert_eq!(Some(second.not_after), ca_end);
        assert!(second.not_after < now + Duration::days(60));
        check(&second, "localhost").unwrap();
    }

    #[test]
    fn validity_is_read_in_both_time_forms() {
        // UTCTime before 2050, GeneralizedTime from then on (RFC 5280), which the 10 years
        // of an authority made in the 2040s reach.
        for now in [
            OffsetDateTime::now_utc(),
            time::Date::from_calendar_date(2045, time::Month::June, 1)
                .unwrap()
                .midnight()
                .assume_utc(),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let issued = issue(dir.path(), &names(), now).unwrap();
            let ca = CertificateDer::from_pem_file(&issued.ca_cert).unwrap();
            let expected = issued.not_after - CERT_VALIDITY + CA_VALIDITY;
            assert_eq!(not_after(&ca), Some(expected), "{now}");
            let chain: Vec<_> = CertificateDer::pem_file_iter(&issued.cert)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(not_after(&chain[0]), Some(issued.not_after));
        }
        assert_eq!(not_after(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(not_after(b""), None);
    }

    #[test]
    fn the_instructions_name_the_files_and_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let issued = issue(dir.path(), &names(), OffsetDateTime::now_utc()).unwrap();
        let text = instructions(&issued);
        for expected in [
            format!("--tls-cert {}", issued.cert.display()),
            format!("--tls-key {}", issued.key.display()),
            "--addr 0.0.0.0:443 --http-redirect 0.0.0.0:80".to_owned(),
            "leafbox, localhost, *.venue.example, 127.0.0.1, ::1".to_owned(),
            "NEW certificate authority".to_owned(),
            "certutil -addstore -f ROOT ca.pem".to_owned(),
        ] {
            assert!(text.contains(&expected), "{expected} missing from:\n{text}");
        }
    }
}
