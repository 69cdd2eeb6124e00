//! The SSRF guard: outbound webhooks go only to public addresses (or to ones a host allowed).
//!
//! [`SsrfGuard`] classifies every address a delivery could connect to and refuses loopback,
//! private, link-local, cloud-metadata, unspecified, broadcast, multicast, shared (CGNAT)
//! and reserved ranges, including their IPv4-mapped IPv6 forms. It is installed as the HTTP
//! client's DNS resolver, so every name reqwest resolves is checked and the client connects
//! only to the checked addresses (no second lookup an attacker could rebind). URLs whose host
//! is an IP literal never reach a resolver, so [`SsrfGuard::check_url`] is called on them
//! before a request is built. Either way the refusal happens before any socket is opened.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressClass {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// Cloud metadata services: `169.254.169.254`, `fd00:ec2::254`.
    Metadata,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// Carrier-grade NAT, `100.64/10`.
    SharedCgnat,
    /// Reserved or documentation ranges (`240/4`, `192.0.2/24`, `2001:db8::/32`, ...).
    Reserved,
}

impl AddressClass {
    /// A short, stable, lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Metadata => "metadata",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Multicast => "multicast",
            AddressClass::SharedCgnat => "shared (CGNAT)",
            AddressClass::Reserved => "reserved",
        }
    }

    /// The class of `ip`, or `None` for a public address.
    pub fn of(ip: IpAddr) -> Option<AddressClass> {
        match ip {
            IpAddr::V4(v4) => classify_v4(v4),
            IpAddr::V6(v6) => classify_v6(v6),
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let o = ip.octets();
    Some(if ip == Ipv4Addr::new(169, 254, 169, 254) {
        AddressClass::Metadata
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if o[0] == 0 {
        AddressClass::Unspecified
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        AddressClass::SharedCgnat
    } else if o[0] >= 240
        || (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2))
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
    {
        AddressClass::Reserved
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let s = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96)
    // forms reach the embedded IPv4 address: judge that one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[..6] == [0; 6] && s[6] != 0) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return classify_v4(v4);
    }
    Some(
        if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
            AddressClass::Metadata
        } else if ip.is_loopback() {
            AddressClass::Loopback
        } else if ip.is_unspecified() {
            AddressClass::Unspecified
        } else if (s[0] & 0xfe00) == 0xfc00 {
            AddressClass::Private
        } else if (s[0] & 0xffc0) == 0xfe80 {
            AddressClass::LinkLocal
        } else if ip.is_multicast() {
            AddressClass::Multicast
        } else if s[0] == 0x2001 && s[1] == 0x0db8 {
            AddressClass::Reserved
        } else {
            return None;
        },
    )
}

/// A refused delivery target. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SsrfError {
    /// The host is, or resolved to, an address of a refused class.
    Blocked {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Why it is refused.
        class: AddressClass,
    },
    /// The URL has no host, or is not `http`/`https`.
    InvalidUrl {
        /// Why.
        reason: String,
    },
    /// The host did not resolve to any address.
    Unresolvable {
        /// The host as written in the URL.
        host: String,
        /// Why.
        reason: String,
    },
}

impl SsrfError {
    /// The class of the refused address, when an address was refused.
    pub fn class(&self) -> Option<AddressClass> {
        match self {
            SsrfError::Blocked { class, .. } => Some(*class),
            _ => None,
        }
    }
}

impl fmt::Display for SsrfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SsrfError::Blocked { host, addr, class } => write!(
                f,
                "refused to connect to `{host}`: {addr} is a {class} address"
            ),
            SsrfError::InvalidUrl { reason } => write!(f, "invalid webhook URL: {reason}"),
            SsrfError::Unresolvable { host, reason } => {
                write!(f, "cannot resolve `{host}`: {reason}")
            }
        }
    }
}

impl std::error::Error for SsrfError {}

/// Refuses non-public delivery targets unless they are allow-listed. Cheap to clone.
///
/// ```
/// use switchboard::outbound::ssrf::{AddressClass, SsrfGuard};
///
/// let guard = SsrfGuard::new();
/// let err = guard.check_ip("any", "10.0.0.1".parse().unwrap()).unwrap_err();
/// assert_eq!(err.class(), Some(AddressClass::Private));
/// let guard = SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap());
/// assert!(guard.check_ip("any", "127.0.0.1".parse().unwrap()).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct SsrfGuard {
    inner: Arc<GuardInner>,
}

#[derive(Debug, Default, Clone)]
struct GuardInner {
    allowed_ips: Vec<IpAddr>,
    allowed_hosts: Vec<String>,
}

impl SsrfGuard {
    /// A guard that refuses every non-public address.
    pub fn new() -> Self {
        SsrfGuard::default()
    }

    /// Allows one exact address (for example `127.0.0.1` in tests).
    #[must_use]
    pub fn allow_ip(mut self, ip: IpAddr) -> Self {
        Arc::make_mut(&mut self.inner).allowed_ips.push(ip);
        self
    }

    /// Allows every address a host name resolves to (matched case-insensitively).
    #[must_use]
    pub fn allow_host(mut self, host: &str) -> Self {
        Arc::make_mut(&mut self.inner)
            .allowed_hosts
            .push(host.trim_end_matches('.').to_ascii_lowercase());
        self
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.inner
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Checks one address reached through `host`.
    ///
    /// # Errors
    /// [`SsrfError::Blocked`] when `ip` is not public and neither it nor `host` is allowed.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), SsrfError> {
        if self.inner.allowed_ips.contains(&ip) || self.host_allowed(host) {
            return Ok(());
        }
        match AddressClass::of(ip) {
            None => Ok(()),
            Some(class) => Err(SsrfError::Blocked {
                host: host.to_string(),
                addr: ip,
                class,
            }),
        }
    }

    /// Resolves `host` and checks every address; refuses the host if any address is refused
    /// (a name that resolves to one public and one private address is not trusted).
    ///
    /// # Errors
    /// [`SsrfError::Blocked`] or [`SsrfError::Unresolvable`].
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(host, ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| SsrfError::Unresolvable {
                host: host.to_string(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(SsrfError::Unresolvable {
                host: host.to_string(),
                reason: "no addresses".to_string(),
            });
        }
        for a in &addrs {
            self.check_ip(host, a.ip())?;
        }
        Ok(addrs)
    }

    /// Checks a delivery URL: its scheme, and the addresses its host is or resolves to.
    ///
    /// # Errors
    /// Any [`SsrfError`].
    pub async fn check_url(&self, url: &Url) -> Result<Vec<SocketAddr>, SsrfError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::InvalidUrl {
                reason: format!("scheme `{}` is not http or https", url.scheme()),
            });
        }
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(url::Host::Ipv4(ip)) => {
                self.check_ip(&ip.to_string(), IpAddr::V4(ip))?;
                Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)])
            }
            Some(url::Host::Ipv6(ip)) => {
                self.check_ip(&format!("[{ip}]"), IpAddr::V6(ip))?;
                Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)])
            }
            Some(url::Host::Domain(d)) => self.resolve(d, port).await,
            None => Err(SsrfError::InvalidUrl {
                reason: "no host".to_string(),
            }),
        }
    }

    /// Checks an IP-literal URL without resolving anything; `Ok` for host names (those are
    /// checked by the resolver when the client connects).
    pub(crate) fn check_literal(&self, url: &Url) -> Result<(), SsrfError> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(&format!("[{ip}]"), IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) if matches!(url.scheme(), "http" | "https") => Ok(()),
            Some(url::Host::Domain(_)) => Err(SsrfError::InvalidUrl {
                reason: format!("scheme `{}` is not http or https", url.scheme()),
            }),
            None => Err(SsrfError::InvalidUrl {
                reason: "no host".to_string(),
            }),
        }
    }
}

/// The guard as reqwest's DNS resolver: every resolution is checked before a connection.
impl reqwest::dns::Resolve for SsrfGuard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // reqwest sets the port on the returned addresses itself.
            let addrs = SsrfGuard::resolve(&guard, &host, 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Finds an [`SsrfError`] in an error's source chain.
pub(crate) fn find_ssrf<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a SsrfError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(s) = err.downcast_ref::<SsrfError>() {
            return Some(s);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<AddressClass> {
        AddressClass::of(s.parse().unwrap())
    }

    #[test]
    fn classifies_refused_ranges_and_their_mapped_forms() {
        assert_eq!(class("127.0.0.1"), Some(AddressClass::Loopback));
        assert_eq!(class("::1"), Some(AddressClass::Loopback));
        assert_eq!(class("10.1.2.3"), Some(AddressClass::Private));
        assert_eq!(class("172.31.0.1"), Some(AddressClass::Private));
        assert_eq!(class("192.168.1.1"), Some(AddressClass::Private));
        assert_eq!(class("fd12::1"), Some(AddressClass::Private));
        assert_eq!(class("169.254.1.1"), Some(AddressClass::LinkLocal));
        assert_eq!(class("fe80::1"), Some(AddressClass::LinkLocal));
        assert_eq!(class("169.254.169.254"), Some(AddressClass::Metadata));
        assert_eq!(class("fd00:ec2::254"), Some(AddressClass::Metadata));
        assert_eq!(class("0.0.0.0"), Some(AddressClass::Unspecified));
        assert_eq!(class("::"), Some(AddressClass::Unspecified));
        assert_eq!(class("255.255.255.255"), Some(AddressClass::Broadcast));
        assert_eq!(class("224.0.0.1"), Some(AddressClass::Multicast));
        assert_eq!(class("ff02::1"), Some(AddressClass::Multicast));
        assert_eq!(class("100.64.0.1"), Some(AddressClass::SharedCgnat));
        assert_eq!(class("100.127.255.255"), Some(AddressClass::SharedCgnat));
        assert_eq!(class("::ffff:127.0.0.1"), Some(AddressClass::Loopback));
        assert_eq!(class("::ffff:10.0.0.1"), Some(AddressClass::Private));
        assert_eq!(
            class("::ffff:169.254.169.254"),
            Some(AddressClass::Metadata)
        );
        assert_eq!(class("64:ff9b::a00:1"), Some(AddressClass::Private));
        assert_eq!(class("8.8.8.8"), None);
        assert_eq!(class("100.128.0.1"), None);
        assert_eq!(class("172.32.0.1"), None);
        assert_eq!(class("2606:4700::1111"), None);
    }

    #[test]
    fn allow_list_admits_exact_addresses_and_hosts() {
        let g = SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap());
        assert!(g.check_ip("x", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check_ip("x", "127.0.0.2".parse().unwrap()).is_err());
        let g = SsrfGuard::new().allow_host("Internal.Example.");
        assert!(g
            .check_ip("internal.example", "10.0.0.1".parse().unwrap())
            .is_ok());
    }
}
