//! [`EndpointPolicy`]: which endpoint URLs a tenant's config may name. Public as
//! `switchboard::templates::EndpointPolicy`; it lives here, below both, because the client
//! (which enforces it when a connection is built) and the templates (which check config
//! fields with it) both use it, and the templates build on the client.

/// Which endpoint URLs a tenant's config may name. The default refuses every URL that is not
/// `https` or whose host is a loopback, private, link-local, metadata, or otherwise non-public
/// address (the classification of [`crate::outbound::ssrf::AddressClass`]), or a `localhost`
/// name; a host allowed with [`EndpointPolicy::allow_host`] is accepted over `http` or `https`
/// whatever its address. Cheap to clone.
///
/// [`EndpointPolicy::check`] judges host names by their text. A public-looking name that
/// resolves to a private address is caught when the call connects: a connection made by
/// `Connections` from tenant config resolves through the SSRF guard with this policy's
/// allowances, so every DNS answer is checked before a socket is opened.
///
/// ```
/// use switchboard::templates::EndpointPolicy;
///
/// let policy = EndpointPolicy::new();
/// assert!(policy.check("https://api.stripe.com").is_ok());
/// assert!(policy.check("http://10.0.0.5").is_err());
/// assert!(policy.check("https://169.254.169.254").is_err());
/// assert!(policy.check("https://localhost").is_err());
/// let policy = EndpointPolicy::new().allow_host("127.0.0.1");
/// assert!(policy.check("http://127.0.0.1:8080").is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    allowed_hosts: Vec<String>,
}

impl EndpointPolicy {
    /// The default policy: https and public hosts only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows one host (a name, matched case-insensitively, or an IP literal such as
    /// `127.0.0.1` or `::1`; no port) over `http` or `https`, whatever its address.
    #[must_use]
    pub fn allow_host(mut self, host: &str) -> Self {
        self.allowed_hosts.push(normalize_host(host));
        self
    }

    /// The hosts allowed explicitly.
    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed_hosts
    }

    /// The SSRF guard that enforces this policy on every address a host name resolves to
    /// (the pipeline's resolver for connections whose base URL came from tenant config).
    pub(crate) fn guard(&self) -> crate::outbound::ssrf::SsrfGuard {
        let mut g = crate::outbound::ssrf::SsrfGuard::new();
        for h in &self.allowed_hosts {
            g = match h.parse::<std::net::IpAddr>() {
                Ok(ip) => g.allow_ip(ip),
                Err(_) => g.allow_host(h),
            };
        }
        g
    }

    /// Checks one endpoint URL.
    ///
    /// # Errors
    /// Why the URL is refused, in words that do not repeat it.
    pub fn check(&self, url: &str) -> Result<(), String> {
        use crate::outbound::ssrf::AddressClass;
        let parsed = url::Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("is an endpoint URL and must use https".to_string());
        }
        let host = parsed
            .host()
            .ok_or_else(|| "is an endpoint URL without a host".to_string())?;
        let name = match &host {
            url::Host::Domain(d) => normalize_host(d),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        if self.allowed_hosts.contains(&name) {
            return Ok(());
        }
        if parsed.scheme() != "https" {
            return Err(
                "is an endpoint URL and must use https (or name a host the application allows)"
                    .to_string(),
            );
        }
        let class = match host {
            url::Host::Ipv4(ip) => AddressClass::of(ip.into()),
            url::Host::Ipv6(ip) => AddressClass::of(ip.into()),
            url::Host::Domain(_) if name == "localhost" || name.ends_with(".localhost") => {
                Some(AddressClass::Loopback)
            }
            url::Host::Domain(_) if name == "metadata.google.internal" || name == "metadata" => {
                Some(AddressClass::Metadata)
            }
            url::Host::Domain(_) => None,
        };
        match class {
            None => Ok(()),
            Some(class) => Err(format!(
                "is an endpoint URL whose host is a {class} address; only a host the application \
                 allows explicitly may be"
            )),
        }
    }
}

fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}
