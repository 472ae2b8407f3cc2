//! The client's address: the peer's, or — behind a trusted reverse proxy — the one the proxy
//! put in `X-Forwarded-For` (`[server] trusted_proxies`).
//!
//! Only proxies we were told to trust may speak for the client; anyone else's
//! `X-Forwarded-For` is ignored, so a client cannot pick the address its events are logged and
//! rate-limited under.

use axum::http::HeaderMap;
use std::net::IpAddr;

/// The parsed `server.trusted_proxies`: addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses entries like `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    ///
    /// # Errors
    /// A message naming the first entry that is not an address or block.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let bad = || format!("{entry:?} is not an address or a CIDR block like 10.0.0.0/8");
            let (addr, bits) = match entry.trim().split_once('/') {
                Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
                None => (entry.trim(), None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            if bits > max {
                return Err(bad());
            }
            out.push((addr, bits));
        }
        Ok(TrustedProxies(out))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|&(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            _ => false,
        })
    }

    /// The client's address for a request from `peer` with `headers`: the peer itself unless
    /// it is a trusted proxy; then, reading `X-Forwarded-For` from the right, the first address
    /// that is not a trusted proxy (or the leftmost, when all are).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.0.is_empty() || !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop we cannot read ends what we can believe.
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_speak_for_the_client() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("10.0.0.5"), &headers(&["1.2.3.4"])),
            ip("10.0.0.5"),
            "without trusted proxies the header is ignored"
        );
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into(), "192.168.1.7".into()])
            .unwrap();
        assert!(t.contains(ip("10.200.3.4")) && !t.contains(ip("11.0.0.1")));
        assert!(
            t.contains(ip("::ffff:10.0.0.1")),
            "v4-mapped v6 counts as v4"
        );
        assert!(t.contains(ip("192.168.1.7")) && !t.contains(ip("192.168.1.8")));
        // From a trusted proxy: the rightmost untrusted hop.
        assert_eq!(
            t.client_ip(ip("10.0.0.5"), &headers(&["6.6.6.6, 1.2.3.4", "10.1.1.1"])),
            ip("1.2.3.4")
        );
        // From anyone else: the peer, whatever the header claims.
        assert_eq!(
            t.client_ip(ip("8.8.8.8"), &headers(&["1.2.3.4"])),
            ip("8.8.8.8")
        );
        // No header: the proxy itself; garbage: the last believable hop.
        assert_eq!(t.client_ip(ip("::1"), &headers(&[])), ip("::1"));
        assert_eq!(
            t.client_ip(ip("10.0.0.5"), &headers(&["1.2.3.4, nonsense"])),
            ip("10.0.0.5")
        );
        for bad in ["10.0.0.0/33", "nowhere", "::1/129", "1.2.3.4/x"] {
            assert!(TrustedProxies::parse(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0".into()])
                .unwrap()
                .contains(ip("1.2.3.4"))
        );
    }
}
