//! Where a collector may be: an https:// URL (http:// too when the
//! operator allows private addresses, for collectors on the console's own
//! network and for tests) whose host resolves only to global addresses.
//! The check runs when a destination is added and again before every
//! delivery pass, and the delivery connects to the very addresses checked,
//! so a name that later resolves to 127.0.0.1 (DNS rebinding) reaches
//! nothing inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use url::{Host, Url};

/// The longest URL a destination may have.
pub const MAX_URL_CHARS: usize = 2000;

/// Why a URL is refused, as the form says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("Enter the collector's URL, starting with https://.")]
    Empty,
    #[error("A URL of at most {MAX_URL_CHARS} characters, please.")]
    TooLong,
    #[error("This is not a URL: write it as https://collector.example.com/path.")]
    Malformed,
    #[error("Only https:// URLs are accepted: entries must not cross the network unencrypted.")]
    NotHttps,
    #[error("Use an https:// (or, on this console, http://) URL.")]
    NotHttp,
    #[error(
        "Leave the user name and password out of the URL: the collector checks the signature instead."
    )]
    Credentials,
    #[error("The host {0} cannot be found.")]
    Unresolved(String),
    #[error(
        "{host} is a private, loopback or otherwise internal address ({ip}): only public addresses are accepted."
    )]
    Private { host: String, ip: IpAddr },
}

/// A URL that passed the rules, before its host is resolved.
pub fn parse(raw: &str, allow_private: bool) -> Result<Url, AddressError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AddressError::Empty);
    }
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(AddressError::TooLong);
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AddressError::Malformed);
    }
    let url = Url::parse(raw).map_err(|_| AddressError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ if allow_private => return Err(AddressError::NotHttp),
        _ => return Err(AddressError::NotHttps),
    }
    if url.host().is_none() || url.fragment().is_some() {
        return Err(AddressError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AddressError::Credentials);
    }
    Ok(url)
}

/// The URL as the audit log records it: without its query, which may
/// carry a collector's token.
pub fn recorded(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// The addresses `url`'s host resolves to, every one of them global
/// unless `allow_private`: connect to these and nothing else.
pub fn resolve(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, AddressError> {
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => (name, port)
            .to_socket_addrs()
            .map_err(|_| AddressError::Unresolved(host.clone()))?
            .collect(),
        None => return Err(AddressError::Malformed),
    };
    if addresses.is_empty() {
        return Err(AddressError::Unresolved(host));
    }
    if !allow_private && let Some(inside) = addresses.iter().find(|a| !is_global(a.ip())) {
        return Err(AddressError::Private {
            host,
            ip: inside.ip(),
        });
    }
    Ok(addresses)
}

/// Whether `ip` is reachable on the public internet: not loopback,
/// private, shared (CGNAT), link-local, unique-local, unspecified,
/// documentation, benchmarking, multicast or reserved. IPv6 forms that
/// carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by
/// that address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                  // "this network", unspecified
        || a == 10                            // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127                           // loopback
        || (a == 169 && b == 254)             // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)     // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)     // documentation
        || (a == 192 && b == 88 && c == 99)   // 6to4 relay anycast
        || (a == 192 && b == 168)             // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100)  // documentation
        || (a == 203 && b == 0 && c == 113)   // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated), and :: and ::1 with them.
    if s[..6] == [0; 6] {
        return false;
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_global_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !((s[0] & 0xfe00) == 0xfc00             // unique local
        || (s[0] & 0xffc0) == 0xfe80        // link-local
        || (s[0] & 0xffc0) == 0xfec0        // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00        // multicast
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
        || (s[0] == 0x2001 && s[1] < 0x200)) // IETF protocol assignments (Teredo, ORCHID…)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_global() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.10",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(!is_global(ip(inside)), "{inside} counted as global");
        }
        for outside in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_global(ip(outside)), "{outside} counted as internal");
        }
    }

    #[test]
    fn urls_are_https_without_credentials() {
        assert!(parse("https://logs.example.com/in?token=x", false).is_ok());
        assert_eq!(
            parse("http://logs.example.com/", false),
            Err(AddressError::NotHttps)
        );
        assert!(parse("http://127.0.0.1:9000/", true).is_ok());
        assert_eq!(
            parse("ftp://logs.example.com/", true),
            Err(AddressError::NotHttp)
        );
        assert_eq!(
            parse("https://user:pw@logs.example.com/", false),
            Err(AddressError::Credentials)
        );
        assert_eq!(parse("  ", false), Err(AddressError::Empty));
        assert_eq!(
            parse("logs.example.com", false),
            Err(AddressError::Malformed)
        );
        assert_eq!(
            recorded(&parse("https://logs.example.com/in?token=x", false).unwrap()),
            "https://logs.example.com/in"
        );
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let url = parse("https://127.0.0.1:8443/", false).unwrap();
        assert!(matches!(
            resolve(&url, false),
            Err(AddressError::Private { .. })
        ));
        assert_eq!(
            resolve(&url, true).unwrap(),
            vec!["127.0.0.1:8443".parse().unwrap()]
        );
        let url = parse("https://[::1]/", false).unwrap();
        assert!(matches!(
            resolve(&url, false),
            Err(AddressError::Private { .. })
        ));
        let url = parse("https://localhost/", false).unwrap();
        assert!(resolve(&url, false).is_err());
    }
}
