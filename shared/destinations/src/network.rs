//! Which addresses a delivery may go to. Private, loopback, link-local and other
//! non-public addresses are refused unless the installation allows them by name
//! (`destinations_allowed_networks`): a tenant's webhook URL must never reach the
//! platform's own network (server-side request forgery).
//!
//! The check is made on every address a host name resolves to, at the moment of
//! connecting, so a name that resolves to a public address when the destination is saved
//! and to a private one later (DNS rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

use crate::DestinationError;

const MAX_URL_BYTES: usize = 2_000;

/// The networks deliveries may reach beyond the public internet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
}

impl NetworkPolicy {
    /// A comma-separated list of networks (`10.0.0.0/8, 127.0.0.1`); a bare address is a
    /// network of one.
    pub fn parse(list: &str) -> Result<NetworkPolicy, DestinationError> {
        let mut allowed = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| DestinationError::InvalidNetwork(entry.to_owned()))?,
            };
            allowed.push(net);
        }
        Ok(NetworkPolicy { allowed })
    }

    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks a destination URL: http or https, a host, no credentials, and, when the
    /// host is an address, one this policy permits. Names are checked when resolved.
    pub fn check_url(&self, text: &str) -> Result<Url, DestinationError> {
        if text.len() > MAX_URL_BYTES {
            return Err(DestinationError::InvalidUrl("longer than 2000 characters"));
        }
        let url = Url::parse(text).map_err(|_| DestinationError::InvalidUrl("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DestinationError::InvalidUrl(
                "the scheme must be http or https",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::InvalidUrl(
                "credentials do not belong in the URL; the signature authenticates deliveries",
            ));
        }
        let ip = match url.host() {
            None => return Err(DestinationError::InvalidUrl("the URL has no host")),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                (name == "localhost" || name.ends_with(".localhost"))
                    .then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
        };
        if let Some(ip) = ip
            && !self.permits(ip)
        {
            return Err(DestinationError::ForbiddenAddress(ip));
        }
        Ok(url)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// shared (carrier-grade NAT), documentation, benchmarking, multicast, reserved or
/// unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // unique local fc00::/7, link-local fe80::/10, site-local fec0::/10
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // documentation 2001:db8::/32
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 64:ff9b::/96 reaches IPv4 addresses: judged as the one it embeds
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && {
            let o = ip.octets();
            !is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }))
}
