//! SSRF guard: which addresses an outbound request (a webhook delivery, a platform's media
//! download) may reach. The classification is pure; the resolver applies it to every address
//! DNS returns, at connect time, so a name that resolves to a public address when the endpoint
//! is created and to 169.254.169.254 later is still refused.
//!
//! Only ordinary global unicast addresses pass. Everything a receiver could use to reach the
//! host, its network or a translator in front of another network is refused: besides private,
//! loopback and link-local ranges, that includes the IPv6 transition prefixes (NAT64, 6to4,
//! Teredo), whose real destination is an IPv4 host or relay the guard does not see.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]), len)
}

/// Refused IPv4 networks with the reason shown to the tenant; the first match wins, so the
/// narrow metadata addresses come before the ranges that contain them.
const V4_FORBIDDEN: &[(Ipv4Net, &str)] = &[
    (v4(169, 254, 169, 254, 32), "cloud metadata"),
    (v4(100, 100, 100, 200, 32), "cloud metadata"),
    (v4(0, 0, 0, 0, 8), "unspecified"),
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 64, 0, 0, 10), "private (carrier-grade NAT)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "reserved (IETF protocol assignments)"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 88, 99, 0, 24), "reserved (6to4 relay)"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "reserved (benchmarking)"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(240, 0, 0, 0, 4), "reserved or broadcast"),
];

/// Refused IPv6 networks, first match wins. Mapped and translated IPv4 addresses never get
/// here: they are judged as the IPv4 address they carry.
const V6_FORBIDDEN: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    // IPv4-compatible addresses (deprecated) would smuggle IPv4 targets.
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 96), "reserved (IPv4-compatible)"),
    (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), "NAT64 translation"),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "NAT64 translation"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "reserved (discard)"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "Teredo tunnel"),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "reserved (IETF protocol assignments)",
    ),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "6to4 tunnel"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128), "cloud metadata"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "private"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local (deprecated)"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// Global unicast: IPv6 outside it is reserved or special-purpose.
const V6_GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:0:0/96`) and
/// IPv4-translated (`::ffff:0:0:0/96`) addresses reach that IPv4 host.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let mapped = seg[..6] == [0, 0, 0, 0, 0, 0xffff];
    let translated = seg[..6] == [0, 0, 0, 0, 0xffff, 0];
    (mapped || translated).then(|| {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    })
}

/// The address a connection really reaches, for classification and allow-listing.
fn effective(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Why an address is refused, or `None` when it is an ordinary public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match effective(ip) {
        IpAddr::V4(v4) => V4_FORBIDDEN
            .iter()
            .find(|(net, _)| net.contains(&v4))
            .map(|(_, why)| *why),
        IpAddr::V6(v6) => V6_FORBIDDEN
            .iter()
            .find(|(net, _)| net.contains(&v6))
            .map(|(_, why)| *why)
            .or_else(|| (!V6_GLOBAL_UNICAST.contains(&v6)).then_some("reserved")),
    }
}

/// The guard: forbidden addresses are refused unless an allow-listed network contains them.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allowed: Arc<Vec<IpNet>>,
}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Guard {
        Guard {
            allowed: Arc::new(allowed),
        }
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = effective(ip);
        match forbidden_reason(ip) {
            Some(_) if self.allowed.iter().any(|n| n.contains(&ip)) => Ok(()),
            Some(why) => Err(format!("address {ip} is {why} and not in delivery_allowed_networks")),
            None => Ok(()),
        }
    }

    /// Resolve `host` and keep only permitted addresses; an error when none is left.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            self.check(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        let mut last_err = format!("{host} has no address");
        let ok: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match self.check(a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    last_err = e;
                    false
                }
            })
            .collect();
        if ok.is_empty() { Err(last_err) } else { Ok(ok) }
    }
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = guard
                .resolve(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (address, refused?) — the boundaries of every refused range, and public neighbours.
    const CASES: &[(&str, bool)] = &[
        ("127.0.0.1", true),
        ("10.1.2.3", true),
        ("172.16.0.1", true),
        ("172.31.255.255", true),
        ("172.32.0.1", false),
        ("192.168.1.1", true),
        ("169.254.169.254", true),
        ("169.254.1.1", true),
        ("100.100.100.200", true),
        ("100.64.0.1", true),
        ("100.127.255.255", true),
        ("100.128.0.1", false),
        ("0.0.0.0", true),
        ("0.1.2.3", true),
        ("192.0.0.8", true),
        ("192.0.1.1", false),
        ("192.0.2.1", true),
        ("192.88.99.1", true),
        ("198.17.255.255", false),
        ("198.18.0.1", true),
        ("198.19.255.255", true),
        ("198.20.0.1", false),
        ("198.51.100.7", true),
        ("203.0.113.9", true),
        ("224.0.0.1", true),
        ("239.255.255.250", true),
        ("240.0.0.1", true),
        ("255.255.255.255", true),
        ("8.8.8.8", false),
        ("93.184.216.34", false),
        ("223.255.255.254", false),
        ("::1", true),
        ("::", true),
        ("::127.0.0.1", true),
        ("::8.8.8.8", true),
        ("::ffff:127.0.0.1", true),
        ("::ffff:10.0.0.1", true),
        ("::ffff:198.18.0.1", true),
        ("::ffff:8.8.8.8", false),
        ("::ffff:0:127.0.0.1", true),
        ("::ffff:0:169.254.169.254", true),
        ("::ffff:0:8.8.8.8", false),
        ("64:ff9b::7f00:1", true),
        ("64:ff9b::808:808", true),
        ("64:ff9b:1::a00:1", true),
        ("100::1", true),
        ("2001::1", true),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", true),
        ("2001:2::1", true),
        ("2001:db8::1", true),
        ("2002:7f00:1::1", true),
        ("2002:808:808::1", true),
        ("3fff::1", true),
        ("5f00::1", true),
        ("fc00::1", true),
        ("fd00::1", true),
        ("fd00:ec2::254", true),
        ("fe80::1", true),
        ("febf::1", true),
        ("fec0::1", true),
        ("ff02::1", true),
        ("4000::1", true),
        ("2001:4860:4860::8888", false),
        ("2a00:1450:4001::1", false),
        ("2001:200::1", false),
    ];

    #[test]
    fn classification_table() {
        for (ip, refused) in CASES {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_reason(ip).is_some(), *refused, "{ip}");
            assert_eq!(Guard::default().check(ip).is_err(), *refused, "{ip}");
        }
    }

    #[test]
    fn translated_addresses_are_judged_and_allowed_as_their_ipv4() {
        let guard = Guard::new(vec!["198.18.0.0/15".parse().unwrap()]);
        for ip in ["198.18.0.1", "::ffff:198.18.0.1", "::ffff:0:198.18.0.1"] {
            assert!(guard.check(ip.parse().unwrap()).is_ok(), "{ip}");
        }
        let err = Guard::default()
            .check("::ffff:0:127.0.0.1".parse().unwrap())
            .unwrap_err();
        assert!(err.contains("127.0.0.1 is loopback"), "{err}");
    }

    #[test]
    fn transition_prefixes_name_themselves() {
        for (ip, why) in [
            ("64:ff9b::808:808", "NAT64"),
            ("2002:808:808::1", "6to4"),
            ("2001::1", "Teredo"),
        ] {
            let reason = forbidden_reason(ip.parse().unwrap()).unwrap();
            assert!(reason.contains(why), "{ip}: {reason}");
        }
    }

    #[test]
    fn allow_list_opens_exactly_its_networks() {
        let guard = Guard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(guard.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(guard.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(guard.check("10.0.0.1".parse().unwrap()).is_err());
        assert!(guard.check("169.254.169.254".parse().unwrap()).is_err());
        assert!(Guard::default().check("127.0.0.1".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_to_loopback() {
        let err = Guard::default().resolve("localhost", 80).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(Guard::default().resolve("[::1]", 80).await.is_err());
    }
}
