//! Who is on the other end: the client address (trusting `X-Forwarded-For` only from
//! configured proxies) and whether a WebSocket upgrade comes from an allowed page.

use axum::http::{header, HeaderMap};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The client's address. A peer that is a trusted proxy speaks for the client through
/// `X-Forwarded-For`: the rightmost address that is not itself a trusted proxy is the client.
/// Anyone else could put anything in that header, so for them it is ignored.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    let peer_ip = peer.ip().to_canonical();
    if !trusted(&peer_ip) {
        return peer_ip;
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    chain
        .iter()
        .rev()
        .find(|ip| !trusted(ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer_ip)
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
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(from_anyone, &h, &proxies), from_anyone.ip());
        assert_eq!(
            client_ip(from_proxy, &HeaderMap::new(), &proxies),
            from_proxy.ip()
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
            "203.0.113.9".parse::<IpAddr>().unwrap()
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
