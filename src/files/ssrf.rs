//! Where a URL import may connect (docs/API.md §5): only to public unicast addresses, unless
//! `--import-allow-private` is set.
//!
//! The server fetches URLs that clients choose, from inside the network it runs in; without this
//! policy an import could read cloud metadata (`169.254.169.254`), admin ports on loopback or
//! anything on the private network. A host is checked three times: up front (every address it
//! resolves to must be public, so the client gets a 422 rather than a failed task), by the HTTP
//! client's resolver on every connection (a host may resolve differently a second later: DNS
//! rebinding), and by the redirect policy for literal-IP redirect targets (the resolver is never
//! asked about those).

use std::{
    error::Error as StdError,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

use crate::error::{Error, Result};

/// How long the up-front check waits for DNS.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// IPv4 ranges an import must not reach: `(network, prefix length, what)`.
const FORBIDDEN_V4: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "\"this network\" / unspecified",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared (CGNAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    // Includes the limited broadcast address 255.255.255.255.
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved / broadcast"),
];

/// IPv6 ranges an import must not reach. Ranges that embed an IPv4 address (mapped, NAT64,
/// 6to4) are not listed here: [`forbidden_reason`] judges the embedded address instead.
const FORBIDDEN_V6: &[(Ipv6Addr, u8, &str)] = &[
    // The first match names the range, so the specific ones come before `::/96`.
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    // Deprecated IPv4-compatible addresses (`::a.b.c.d`).
    (Ipv6Addr::UNSPECIFIED, 96, "IPv4-compatible"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only",
    ),
    // Teredo, benchmarking, ORCHID: protocol plumbing, never a file server.
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (private)",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// Why an import may not connect to `ip`, or `None` if it may.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // A mapped or translated address reaches the IPv4 host it embeds.
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

pub fn is_forbidden(ip: IpAddr) -> bool {
    forbidden_reason(ip).is_some()
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    FORBIDDEN_V4
        .iter()
        .find(|(net, len, _)| prefix_matches_v4(bits, u32::from(*net), *len))
        .map(|(_, _, what)| *what)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    FORBIDDEN_V6
        .iter()
        .find(|(net, len, _)| prefix_matches_v6(bits, u128::from(*net), *len))
        .map(|(_, _, what)| *what)
}

fn prefix_matches_v4(addr: u32, net: u32, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    addr & mask == net & mask
}

fn prefix_matches_v6(addr: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    addr & mask == net & mask
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 well-known prefix
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::/48`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if prefix_matches_v6(
        bits,
        u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)),
        96,
    ) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if prefix_matches_v6(
        bits,
        u128::from(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0)),
        16,
    ) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

/// A connection or redirect the policy refused; found again in a failed fetch's error chain.
#[derive(Debug)]
pub struct Forbidden(pub String);

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Forbidden {}

/// `url_forbidden` unless the host is a literal public address or a name whose addresses are
/// all public. A name that does not resolve is a validation error on `url`.
pub async fn check_url(url: &Url) -> Result<()> {
    if let Some(ip) = literal_ip(url) {
        return check_ip(url, ip);
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(Error::field("url", "must have a host"));
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs =
        match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(addrs)) => addrs.collect::<Vec<SocketAddr>>(),
            Ok(Err(_)) | Err(_) => {
                return Err(Error::field(
                    "url",
                    format!("the host {host} does not resolve"),
                ));
            }
        };
    if addrs.is_empty() {
        return Err(Error::field(
            "url",
            format!("the host {host} does not resolve"),
        ));
    }
    // Every address must be allowed: the client's resolver would skip the forbidden ones, but a
    // host that points inside at all is not one to fetch from.
    match addrs
        .iter()
        .find_map(|a| forbidden_reason(a.ip()).map(|r| (a.ip(), r)))
    {
        Some((ip, reason)) => Err(Error::UrlForbidden(format!(
            "{host} resolves to {ip}, which is not a public address ({reason}); \
             imports may only fetch from public addresses"
        ))),
        None => Ok(()),
    }
}

fn check_ip(url: &Url, ip: IpAddr) -> Result<()> {
    match forbidden_reason(ip) {
        Some(reason) => Err(Error::UrlForbidden(format!(
            "{} is not a public address ({reason}); imports may only fetch from public addresses",
            url.host_str().unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: resolves with the system resolver, then drops every forbidden
/// address, so a connection can only ever go to a public one.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved.filter(|a| !is_forbidden(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(Forbidden(format!(
                    "connection to {host} refused: it resolves to no public address"
                ))) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Follows at most `max` redirects, only to http(s), and (unless `allow_private`) not to a
/// literal forbidden IP. Names are left to [`PublicOnlyResolver`].
pub fn redirect_policy(max: usize, allow_private: bool) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        // `previous` starts with the original URL, so it holds one more than the hops so far.
        if attempt.previous().len() > max {
            let why = format!("too many redirects (more than {max})");
            return attempt.error(Forbidden(why));
        }
        match redirect_target_problem(attempt.url(), allow_private) {
            Some(why) => attempt.error(Forbidden(why)),
            None => attempt.follow(),
        }
    })
}

fn redirect_target_problem(url: &Url, allow_private: bool) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("redirect to a {} URL refused", url.scheme()));
    }
    if allow_private {
        return None;
    }
    let ip = literal_ip(url)?;
    forbidden_reason(ip)
        .map(|reason| format!("redirect to {ip} refused: not a public address ({reason})"))
}

/// The host of `url` if it is an IP address. The WHATWG parser has already turned numeric forms
/// such as `http://2130706433/` into dotted ones; IPv6 hosts come in brackets.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        is_forbidden(s.parse().expect("test address"))
    }

    #[test]
    fn refuses_internal_ipv4() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.10",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(forbidden(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn allows_public_ipv4_next_to_the_ranges() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.3.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn refuses_internal_ipv6() {
        for ip in [
            "::",
            "::1",
            "::127.0.0.1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001::1",
            "64:ff9b:1::1",
        ] {
            assert!(forbidden(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn judges_embedded_ipv4_by_the_ipv4_rules() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
        ] {
            assert!(forbidden(ip), "{ip} should be refused");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn allows_public_ipv6() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860::8888",
        ] {
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn redirect_targets() {
        let url = |s: &str| Url::parse(s).expect("test url");
        assert!(redirect_target_problem(&url("ftp://example.com/x"), true).is_some());
        assert!(redirect_target_problem(&url("file:///etc/passwd"), false).is_some());
        assert!(redirect_target_problem(&url("http://127.0.0.1/x"), false).is_some());
        assert!(redirect_target_problem(&url("http://[::ffff:a9fe:a9fe]/x"), false).is_some());
        // The WHATWG parser turns numeric hosts into addresses, so they are caught too.
        assert!(redirect_target_problem(&url("http://2130706433/x"), false).is_some());
        assert!(redirect_target_problem(&url("http://127.0.0.1/x"), true).is_none());
        assert!(redirect_target_problem(&url("https://example.com/x"), false).is_none());
        assert!(redirect_target_problem(&url("http://8.8.8.8/x"), false).is_none());
    }

    /// Serves one HTTP response on a loopback port; returns its address.
    async fn one_shot(response: &'static str) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        addr
    }

    fn has_forbidden(err: &reqwest::Error) -> bool {
        let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = cur {
            if e.is::<Forbidden>() {
                return true;
            }
            cur = e.source();
        }
        false
    }

    #[tokio::test]
    async fn the_client_refuses_redirects_to_forbidden_literals() {
        let addr = one_shot(
            "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\n\
             Content-Length: 0\r\n\r\n",
        )
        .await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirect_policy(5, false))
            .build()
            .expect("client");
        let err = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect_err("the redirect must be refused");
        assert!(has_forbidden(&err), "{err:?}");
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        let addr = one_shot("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(PublicOnlyResolver))
            .build()
            .expect("client");
        let err = client
            .get(format!("http://localhost:{}/", addr.port()))
            .send()
            .await
            .expect_err("localhost must not be reached");
        assert!(has_forbidden(&err), "{err:?}");
    }

    #[tokio::test]
    async fn up_front_check_of_literals_and_names() {
        let url = |s: &str| Url::parse(s).expect("test url");
        let code = |r: Result<()>| match r {
            Ok(()) => "ok",
            Err(Error::UrlForbidden(_)) => "forbidden",
            Err(Error::Validation(_)) => "invalid",
            Err(_) => "other",
        };
        assert_eq!(
            code(check_url(&url("http://169.254.169.254/")).await),
            "forbidden"
        );
        assert_eq!(
            code(check_url(&url("http://[fd00::1]/")).await),
            "forbidden"
        );
        assert_eq!(
            code(check_url(&url("http://localhost:9/")).await),
            "forbidden"
        );
        assert_eq!(code(check_url(&url("http://93.184.215.14/")).await), "ok");
    }
}
