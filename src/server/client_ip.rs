//! Who is on the other end: the client address (trusting `X-Forwarded-For` only from
//! configured proxies), the address prefix that stands for one visitor, and whether a
//! WebSocket upgrade comes from an allowed page.

use axum::http::{header, HeaderMap};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// How much of an address stands for one visitor. One home or phone usually gets a whole
/// IPv6 /64 (and can pick any address in it at will), so counting IPv6 addresses one by one
/// would give each visitor unlimited sockets, reporters and ways around a ban. Every
/// per-address limit, ban and report is keyed on [`AddressPrefixes::key`] instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressPrefixes {
    /// Prefix length for IPv4 addresses (32: each address is its own visitor).
    pub ipv4: u8,
    /// Prefix length for IPv6 addresses (64: the usual size of one subscriber's network).
    pub ipv6: u8,
}

impl Default for AddressPrefixes {
    fn default() -> Self {
        AddressPrefixes { ipv4: 32, ipv6: 64 }
    }
}

impl AddressPrefixes {
    /// The network `ip` belongs to, as one visitor: the key of every per-address limit, ban
    /// and report. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) counts as the IPv4
    /// address it carries.
    pub fn key(self, ip: IpAddr) -> IpNet {
        let ip = ip.to_canonical();
        let len = match ip {
            IpAddr::V4(_) => self.ipv4,
            IpAddr::V6(_) => self.ipv6,
        };
        // The flags are range-checked at start-up; a length past the end would mean the
        // address alone, never a panic.
        IpNet::new(ip, len).map_or(IpNet::from(ip), |net| net.trunc())
    }
}

/// The client's address. A peer that is a trusted proxy speaks for the client through
/// `X-Forwarded-For`: the rightmost hop that is not itself a trusted proxy is the client.
/// Anyone else could put anything in that header, so for them it is ignored.
///
/// `None` when a trusted proxy sent that header but the hop where the client should be is not
/// an address (junk, non-ASCII bytes, "unknown"). The hops to its left were written by
/// whoever the proxy was talking to, so taking one of them would let a visitor choose its own
/// address, and taking the proxy's would put every visitor behind it under one limit and let
/// a banned one back in; the caller refuses the request instead. Junk further left, where a
/// visitor may have written it, is never read.
pub fn client_ip(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    let peer_ip = peer.ip().to_canonical();
    if !trusted(&peer_ip) {
        return Some(peer_ip);
    }
    let mut values = headers.get_all("x-forwarded-for").iter().peekable();
    if values.peek().is_none() {
        // A request the proxy's own host made, not one it forwarded.
        return Some(peer_ip);
    }
    // Split bytes, not text: one non-ASCII byte anywhere must not hide the hops the proxy
    // appended after it.
    let hops: Vec<Option<IpAddr>> = values
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(parse_hop)
        .collect();
    let mut leftmost = None;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted(ip) => leftmost = Some(*ip),
            Some(ip) => return Some(*ip),
            None => return None,
        }
    }
    // Every hop is a trusted proxy: the first of them is where the request started.
    leftmost
}

/// One `X-Forwarded-For` hop: an address, or an address with a port as some proxies write it
/// (`192.0.2.1:5000`, `[2001:db8::1]:5000`). Anything else is `None`.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Whether a WebSocket upgrade may proceed: browsers always send `Origin`, and a page on
/// another site must not be able to open a socket in its visitor's name (cross-site WebSocket
/// hijacking). Allowed: this site itself (the origin's host is the request's `Host`), and the
/// configured extra origins. A request without `Origin` is not from a browser page, and
/// nothing stops such a client from sending any header it likes, so it is let through.
pub fn origin_allowed(headers: &HeaderMap, extra_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if extra_origins
        .iter()
        .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .map(|(_, authority)| authority);
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.1.1")]);
        let from_proxy: SocketAddr = "10.2.2.2:5000".parse().unwrap();
        let from_anyone: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        assert_eq!(
            client_ip(from_proxy, &h, &proxies),
            Some("203.0.113.9".parse::<IpAddr>().unwrap())
        );
        assert_eq!(client_ip(from_anyone, &h, &proxies), Some(from_anyone.ip()));
        assert_eq!(
            client_ip(from_proxy, &HeaderMap::new(), &proxies),
            Some(from_proxy.ip())
        );
    }

    #[test]
    fn spoofed_hops_left_of_the_client_are_ignored() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client itself sent "1.2.3.4"; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        let from_proxy: SocketAddr = "10.2.2.2:5000".parse().unwrap();
        assert_eq!(
            client_ip(from_proxy, &h, &proxies),
            Some("203.0.113.9".parse::<IpAddr>().unwrap())
        );
    }

    fn raw(value: &[u8]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.append("x-forwarded-for", HeaderValue::from_bytes(value).unwrap());
        map
    }

    #[test]
    fn junk_left_of_the_client_is_never_read() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let from_proxy: SocketAddr = "10.2.2.2:5000".parse().unwrap();
        let client = Some("203.0.113.9".parse::<IpAddr>().unwrap());
        // What a visitor wrote (non-ASCII, nonsense) and what the proxy appended after it.
        assert_eq!(
            client_ip(from_proxy, &raw(b"\xff\xfe, 203.0.113.9"), &proxies),
            client
        );
        assert_eq!(
            client_ip(from_proxy, &raw(b"unknown,203.0.113.9, 10.1.1.1"), &proxies),
            client
        );
        // Two header lines read as one list, in order.
        let mut two = raw(b"\xff");
        two.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(client_ip(from_proxy, &two, &proxies), client);
        // Ports, as some proxies write them.
        assert_eq!(
            client_ip(from_proxy, &raw(b"203.0.113.9:4711"), &proxies),
            client
        );
        assert_eq!(
            client_ip(from_proxy, &raw(b"[2001:db8::1]:4711"), &proxies),
            Some("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn junk_where_the_client_should_be_is_refused_not_replaced_by_the_proxy() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let from_proxy: SocketAddr = "10.2.2.2:5000".parse().unwrap();
        for value in [
            &b"203.0.113.9, \xff"[..],
            b"203.0.113.9, unknown, 10.1.1.1",
            b"",
            b" , ",
        ] {
            assert_eq!(
                client_ip(from_proxy, &raw(value), &proxies),
                None,
                "{value:?}"
            );
        }
        // Only hops of trusted proxies: the first one is where the request started.
        assert_eq!(
            client_ip(from_proxy, &raw(b"10.9.9.9, 10.1.1.1"), &proxies),
            Some("10.9.9.9".parse().unwrap())
        );
    }

    #[test]
    fn one_visitor_is_an_ipv6_64_or_an_ipv4_address_by_default() {
        let prefixes = AddressPrefixes::default();
        let key = |s: &str| prefixes.key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_ne!(key("203.0.113.1"), key("203.0.113.2"));
        // An IPv4-mapped IPv6 address is that IPv4 address.
        assert_eq!(key("::ffff:203.0.113.1"), key("203.0.113.1"));
        assert_eq!(key("203.0.113.1").to_string(), "203.0.113.1/32");
        let wide = AddressPrefixes { ipv4: 24, ipv6: 48 };
        assert_eq!(
            wide.key("203.0.113.1".parse().unwrap()),
            wide.key("203.0.113.200".parse().unwrap())
        );
        assert_eq!(
            wide.key("2001:db8:1:2::1".parse().unwrap()),
            wide.key("2001:db8:1:ffff::1".parse().unwrap())
        );
    }

    #[test]
    fn only_the_site_itself_and_listed_origins_may_open_sockets() {
        let extra = vec!["https://partner.example".to_owned()];
        assert!(origin_allowed(
            &headers(&[("host", "duet.example"), ("origin", "https://duet.example")]),
            &extra
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000")
            ]),
            &extra
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "duet.example"),
                ("origin", "https://partner.example")
            ]),
            &extra
        ));
        assert!(!origin_allowed(
            &headers(&[("host", "duet.example"), ("origin", "https://evil.example")]),
            &extra
        ));
        assert!(!origin_allowed(
            &headers(&[("host", "duet.example"), ("origin", "null")]),
            &extra
        ));
        assert!(origin_allowed(
            &headers(&[("host", "duet.example")]),
            &extra
        ));
    }
}
