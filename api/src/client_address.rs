//! The address a request came from, for the per-address log-in throttle.
//!
//! It is the TCP peer, unless the peer is one of the operator's trusted
//! proxies (`SLUICE_TRUSTED_PROXIES`, such as the TLS proxy in front of
//! the API): then it is the last address of `X-Forwarded-For` that is not
//! itself a trusted proxy, the one the nearest untrusted hop connected
//! from. Addresses a client wrote further left in the header are not
//! believed, and a peer that is no trusted proxy is never asked.

use actix_web::HttpRequest;
use std::net::IpAddr;
use std::str::FromStr;

/// The most ranges `SLUICE_TRUSTED_PROXIES` may list.
pub const MAX_TRUSTED_PROXIES: usize = 64;

/// The most `X-Forwarded-For` entries looked at, from the right.
const MAX_FORWARDED_HOPS: usize = 16;

/// An address range: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for IpRange {
    type Err = String;

    /// `192.0.2.7`, `172.16.0.0/12`, `::1` or `fd00::/8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wrong = || format!("{s:?} is not an IP address or a range such as 172.16.0.0/12");
        let (address, prefix) = match s.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| wrong())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(wrong)?,
            None => width,
        };
        Ok(Self { network, prefix })
    }
}

impl IpRange {
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => leading_bits_match(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                leading_bits_match(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn leading_bits_match(a: u128, b: u128, bits: u8) -> bool {
    match bits {
        0 => true,
        bits => (a ^ b) >> (128 - u32::from(bits)) == 0,
    }
}

/// An IPv4 address carried as IPv6 (`::ffff:a.b.c.d`) is the IPv4 one.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpRange>) -> Result<Self, String> {
        if ranges.len() > MAX_TRUSTED_PROXIES {
            return Err(format!("list at most {MAX_TRUSTED_PROXIES} ranges"));
        }
        Ok(Self(ranges))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(address))
    }

    /// Where `req` came from (none when the peer is unknown).
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .take(MAX_FORWARDED_HOPS)
            .map_while(|entry| entry.parse::<IpAddr>().ok().map(canonical))
            .collect();
        Some(
            forwarded
                .iter()
                .copied()
                .find(|hop| !self.trusts(*hop))
                .or_else(|| forwarded.last().copied())
                .unwrap_or(peer),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect()).unwrap()
    }

    fn client(trusted: &TrustedProxies, peer: &str, forwarded: Option<&str>) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(header) = forwarded {
            req = req.insert_header(("X-Forwarded-For", header));
        }
        trusted
            .client_of(&req.to_http_request())
            .unwrap()
            .to_string()
    }

    #[test]
    fn ranges_are_addresses_or_prefixes_and_nothing_else() {
        let range: IpRange = "172.16.0.0/12".parse().unwrap();
        assert!(range.contains("172.31.240.5".parse().unwrap()));
        assert!(!range.contains("172.32.0.1".parse().unwrap()));
        assert!(range.contains("::ffff:172.20.0.1".parse().unwrap()));
        let one: IpRange = "fd00::1".parse().unwrap();
        assert!(one.contains("fd00::1".parse().unwrap()));
        assert!(!one.contains("fd00::2".parse().unwrap()));
        for wrong in [
            "",
            "caddy",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.0/",
        ] {
            assert!(wrong.parse::<IpRange>().is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn only_a_trusted_proxy_is_asked_where_a_request_came_from() {
        let none = TrustedProxies::default();
        let caddy = proxies(&["172.31.240.0/24"]);
        let proxy = "172.31.240.3:5000";
        // (trusted, peer, X-Forwarded-For, the client address counted)
        let cases = [
            // No trusted proxy: the peer, whatever the header says.
            (
                &none,
                "198.51.100.4:5000",
                Some("203.0.113.7"),
                "198.51.100.4",
            ),
            // A peer that is not trusted is not believed either.
            (
                &caddy,
                "198.51.100.4:5000",
                Some("203.0.113.7"),
                "198.51.100.4",
            ),
            // Through the proxy: the address it connected from.
            (&caddy, proxy, Some("203.0.113.7"), "203.0.113.7"),
            // What the client wrote further left is not believed.
            (&caddy, proxy, Some("10.9.9.9, 203.0.113.7"), "203.0.113.7"),
            // Two trusted hops: the first untrusted one from the right.
            (
                &caddy,
                proxy,
                Some("203.0.113.7, 172.31.240.9"),
                "203.0.113.7",
            ),
            // No header, or garbage: the proxy itself.
            (&caddy, proxy, None, "172.31.240.3"),
            (&caddy, proxy, Some("unknown"), "172.31.240.3"),
        ];
        for (trusted, peer, forwarded, expected) in cases {
            assert_eq!(client(trusted, peer, forwarded), expected, "{forwarded:?}");
        }
    }

    #[test]
    fn more_ranges_than_the_bound_are_refused() {
        let many = vec!["10.0.0.1".parse().unwrap(); MAX_TRUSTED_PROXIES + 1];
        assert!(TrustedProxies::new(many).is_err());
    }
}
