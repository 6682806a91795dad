//! The names and addresses of this box, for the certificate `leaf tls self-signed` makes: a
//! browser accepts a certificate only for the name or address typed in its address bar, and
//! at a venue that can be the hostname, `<hostname>.local` (mDNS, what phones on the venue
//! Wi-Fi resolve), `localhost`, or any address of any interface.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One name a certificate covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// A DNS name, lowercase, possibly a wildcard (`*.example.org`).
    Dns(String),
    Ip(IpAddr),
}

impl Name {
    /// An IP address if `text` is one, else a checked DNS name (lowercased: DNS ignores case,
    /// and one spelling per name keeps the list free of duplicates).
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        check_dns_name(text).map_err(|reason| NameError::Invalid {
            name: text.to_owned(),
            reason,
        })?;
        Ok(Self::Dns(text.to_ascii_lowercase()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("{name:?} is neither an IP address nor a DNS name: {reason}")]
    Invalid { name: String, reason: &'static str },
    #[error("cannot read this box's hostname: {0}")]
    Hostname(io::Error),
    #[error("cannot list this box's network addresses: {0}")]
    Interfaces(io::Error),
}

/// Everything the certificate of this box should cover, in a stable order without
/// duplicates: the hostname (and its short form), `<short>.local`, `localhost`, the loopback
/// addresses, every address of every interface (IPv4 first), then `extra`.
pub fn box_names(extra: &[String]) -> Result<Vec<Name>, NameError> {
    // Refuse a mistyped --name before looking at the box at all.
    let extra = extra
        .iter()
        .map(|text| Name::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = Vec::new();
    let host = hostname().map_err(NameError::Hostname)?;
    match Name::parse(&host) {
        Ok(Name::Dns(full)) => {
            // macOS reports "name.local", a Linux box often "name.lan" or just "name"; phones
            // reach it by mDNS as "<first label>.local" either way.
            let short = full.split('.').next().unwrap_or(&full).to_owned();
            names.push(Name::Dns(full.clone()));
            names.push(Name::Dns(short.clone()));
            names.push(Name::Dns(format!("{short}.local")));
        }
        // An address or an odd hostname (an underscore, say) cannot be a certificate name;
        // the box is still reachable by its addresses.
        _ => tracing::warn!(
            hostname = %host,
            "this box's hostname is not a valid DNS name; the certificate leaves it out"
        ),
    }
    names.push(Name::Dns("localhost".to_owned()));
    names.push(Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    names.push(Name::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    let mut addresses = interface_addresses().map_err(NameError::Interfaces)?;
    addresses.retain(|ip| !is_link_local_v6(ip));
    // Stable sort: IPv4 first, as people type those; the interfaces keep their order.
    addresses.sort_by_key(IpAddr::is_ipv6);
    names.extend(addresses.into_iter().map(Name::Ip));
    names.extend(extra);
    Ok(dedup(names))
}

/// `names` without repeats, each kept where it first appeared.
pub fn dedup(names: Vec<Name>) -> Vec<Name> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .filter(|name| seen.insert(name.clone()))
        .collect()
}

/// fe80::/10: valid only together with an interface (`%eth0`), which a certificate cannot
/// name and a browser's address bar does not take; a certificate for it would be useless.
fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// Why `name` is not a DNS name a certificate may carry (RFC 1123 host names, plus a
/// leading `*.` for a wildcard), or nothing if it is one.
fn check_dns_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    for label in rest.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a dot at an end)");
        }
        if label.len() > 63 {
            return Err("a label (the part between dots) is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("only letters, digits, hyphens and dots are allowed (and a leading *.)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with a hyphen");
        }
    }
    Ok(())
}

/// This box's hostname, as gethostname(2) reports it.
pub fn hostname() -> io::Result<String> {
    // 255 is the longest hostname any Unix allows (POSIX HOST_NAME_MAX), plus its NUL.
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for writes of the length passed with it.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    // A truncated name may come back without its NUL; whatever fits is taken then.
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8(buffer[..end].to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the hostname is not UTF-8"))
}

/// Every IPv4 and IPv6 address of every interface, in the order getifaddrs(3) lists them
/// (loopback included); an interface with several addresses appears once for each.
pub fn interface_addresses() -> io::Result<Vec<IpAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `list` is a valid out-pointer; on success it holds a list we must free.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut addresses = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a non-null node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*entry };
        if let Some(ip) = socket_address(ifa.ifa_addr) {
            addresses.push(ip);
        }
        entry = ifa.ifa_next;
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once; nothing borrowed
    // from it outlives this call (the addresses were copied out).
    unsafe { libc::freeifaddrs(list) };
    Ok(addresses)
}

/// The IP address in `addr`, if it is an IPv4 or IPv6 one (an interface may have none, or a
/// link-layer address).
fn socket_address(addr: *const libc::sockaddr) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: a non-null ifa_addr points at a sockaddr at least as large as its family's
    // structure, which sa_family names; each cast below matches the family checked.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET => {
                let v4 = &*addr.cast::<libc::sockaddr_in>();
                // s_addr is in network byte order, which is the order of its bytes in memory.
                Some(IpAddr::V4(Ipv4Addr::from(v4.sin_addr.s_addr.to_ne_bytes())))
            }
            libc::AF_INET6 => {
                let v6 = &*addr.cast::<libc::sockaddr_in6>();
                Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(name: &str) -> Name {
        Name::Dns(name.to_owned())
    }

    #[test]
    fn dns_names_are_checked_and_lowercased() {
        for good in [
            "leaf",
            "leaf.example",
            "Leaf-Box.Example.ORG",
            "*.venue.example",
            "a1.b2",
            &format!("{}.example", "a".repeat(63)),
        ] {
            assert_eq!(
                Name::parse(good).unwrap(),
                dns(&good.to_ascii_lowercase()),
                "{good}"
            );
        }
        for bad in [
            "",
            "leaf..example",
            ".leaf",
            "leaf.",
            "le_af",
            "leaf box",
            "-leaf",
            "leaf-.example",
            "*",
            "a.*.example",
            "*.",
            "fe80::1%eth0",
            "https://leaf.example",
            "bücher.example",
            &format!("{}.example", "a".repeat(64)),
            &["abcdefghi"; 26].join("."),
        ] {
            let err = Name::parse(bad).unwrap_err();
            assert!(matches!(err, NameError::Invalid { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("neither an IP address"), "{err}");
        }
    }

    #[test]
    fn addresses_are_parsed_as_addresses() {
        assert_eq!(
            Name::parse("192.168.1.20").unwrap(),
            Name::Ip("192.168.1.20".parse().unwrap())
        );
        assert_eq!(
            Name::parse("2001:db8::1").unwrap(),
            Name::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(Name::parse("::1").unwrap().to_string(), "::1");
    }

    #[test]
    fn duplicates_keep_their_first_place() {
        let names = dedup(vec![
            dns("a"),
            Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            dns("b"),
            dns("a"),
            Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ]);
        assert_eq!(
            names,
            vec![
                dns("a"),
                Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                dns("b")
            ]
        );
    }

    #[test]
    fn link_local_v6_is_recognised() {
        assert!(is_link_local_v6(&"fe80::1".parse().unwrap()));
        assert!(is_link_local_v6(&"febf::1".parse().unwrap()));
        assert!(!is_link_local_v6(&"fec0::1".parse().unwrap()));
        assert!(!is_link_local_v6(&"::1".parse().unwrap()));
        assert!(!is_link_local_v6(&"169.254.1.1".parse().unwrap()));
    }

    #[test]
    fn the_box_names_itself_and_its_loopback() {
        let names = box_names(&["Leaf.Example".to_owned(), "10.9.8.7".to_owned()]).unwrap();
        for expected in [
            dns("localhost"),
            Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Name::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            dns("leaf.example"),
            Name::Ip("10.9.8.7".parse().unwrap()),
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        assert_eq!(names, dedup(names.clone()), "no duplicates");
        assert!(
            !names
                .iter()
                .any(|n| matches!(n, Name::Ip(ip) if is_link_local_v6(ip))),
            "{names:?}"
        );
        if let Ok(Name::Dns(host)) = Name::parse(&hostname().unwrap()) {
            assert_eq!(names[0], Name::Dns(host), "the hostname comes first");
            assert!(names.iter().any(|n| n.to_string().ends_with(".local")));
        }
    }

    #[test]
    fn a_bad_extra_name_is_refused_with_its_spelling() {
        let err = box_names(&["leaf.example".to_owned(), "bad name".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("\"bad name\""), "{err}");
    }

    #[test]
    fn the_loopback_interface_is_listed() {
        let addresses = interface_addresses().unwrap();
        assert!(
            addresses.iter().any(IpAddr::is_loopback),
            "no loopback in {addresses:?}"
        );
    }
}
