//! Which addresses a webhook may never reach without an allowance: the IANA special-purpose
//! registries (IPv4 and IPv6) minus the globally reachable entries, plus the cloud metadata
//! services, which hand out credentials to whoever asks from inside the instance.
//!
//! IPv6 addresses that carry an IPv4 address (`::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`) are judged by the IPv4 address they lead to, so `[::ffff:127.0.0.1]` is loopback.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `0.0.0.0/8`, `::`: "this host", which connects to the local machine.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 and unique-local `fc00::/7`.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    Shared,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// TEST-NET-1/2/3, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// IETF protocol assignments, future use, deprecated or discard-only ranges.
    Reserved,
    /// A cloud metadata or credentials service: never allowed, whatever the allowance.
    Metadata,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "the unspecified address (this host)",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address",
            Self::Shared => "a shared (carrier-grade NAT) address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
            Self::Metadata => "a cloud metadata service",
        })
    }
}

/// First match wins, so the metadata hosts come before the ranges that hold them.
const V4: &[([u8; 4], u8, Refusal)] = &[
    ([169, 254, 169, 254], 32, Refusal::Metadata), // AWS, GCP, Azure, OCI, OpenStack
    ([169, 254, 170, 2], 32, Refusal::Metadata),   // AWS ECS task credentials
    ([169, 254, 170, 23], 32, Refusal::Metadata),  // AWS EKS Pod Identity
    ([100, 100, 100, 200], 32, Refusal::Metadata), // Alibaba Cloud
    ([168, 63, 129, 16], 32, Refusal::Metadata),   // Azure WireServer (a public address)
    ([255, 255, 255, 255], 32, Refusal::Broadcast),
    ([0, 0, 0, 0], 8, Refusal::Unspecified),
    ([10, 0, 0, 0], 8, Refusal::Private),
    ([100, 64, 0, 0], 10, Refusal::Shared),
    ([127, 0, 0, 0], 8, Refusal::Loopback),
    ([169, 254, 0, 0], 16, Refusal::LinkLocal),
    ([172, 16, 0, 0], 12, Refusal::Private),
    ([192, 0, 0, 0], 24, Refusal::Reserved),
    ([192, 0, 2, 0], 24, Refusal::Documentation),
    ([192, 88, 99, 0], 24, Refusal::Reserved), // the deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16, Refusal::Private),
    ([198, 18, 0, 0], 15, Refusal::Benchmarking),
    ([198, 51, 100, 0], 24, Refusal::Documentation),
    ([203, 0, 113, 0], 24, Refusal::Documentation),
    ([224, 0, 0, 0], 4, Refusal::Multicast),
    ([240, 0, 0, 0], 4, Refusal::Reserved),
];

const V6: &[(u128, u8, Refusal)] = &[
    (
        0xfd00_0ec2_0000_0000_0000_0000_0000_0254,
        128,
        Refusal::Metadata,
    ), // AWS (IPv6)
    (
        0xfd00_0ec2_0000_0000_0000_0000_0000_0023,
        128,
        Refusal::Metadata,
    ), // AWS EKS Pod Identity
    (0, 128, Refusal::Unspecified),
    (1, 128, Refusal::Loopback),
    (0, 96, Refusal::Reserved), // IPv4-compatible, deprecated
    (0x0064_ff9b_0001 << 80, 48, Refusal::Reserved), // local-use NAT64
    (0x0100 << 112, 64, Refusal::Reserved), // discard-only
    (0x2001_0002 << 96, 48, Refusal::Benchmarking),
    (0x2001_0db8 << 96, 32, Refusal::Documentation),
    (0x3fff << 112, 20, Refusal::Documentation),
    (0xfc00 << 112, 7, Refusal::Private),
    (0xfe80 << 112, 10, Refusal::LinkLocal),
    (0xfec0 << 112, 10, Refusal::Reserved), // site-local, deprecated
    (0xff00 << 112, 8, Refusal::Multicast),
];

/// Why a webhook may not reach `ip` without an allowance, or `None` for a public address.
pub(crate) fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refusal_v4(v4),
            None => refusal_v6(v6),
        },
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let ip = u32::from(ip);
    V4.iter()
        .find(|(net, prefix, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            ip & mask == u32::from_be_bytes(*net) & mask
        })
        .map(|(_, _, refusal)| *refusal)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let ip = u128::from(ip);
    V6.iter()
        .find(|(net, prefix, _)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
            ip & mask == net & mask
        })
        .map(|(_, _, refusal)| *refusal)
}

/// The IPv4 address an IPv6 address leads to: mapped, NAT64 (well-known prefix) or 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if bits >> 112 == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ip: &str) -> Option<Refusal> {
        refusal(ip.parse().unwrap())
    }

    #[test]
    fn every_special_ipv4_range_is_refused() {
        let cases = [
            ("0.0.0.0", Refusal::Unspecified),
            ("0.1.2.3", Refusal::Unspecified),
            ("10.0.0.5", Refusal::Private),
            ("10.255.255.255", Refusal::Private),
            ("100.64.0.1", Refusal::Shared),
            ("100.127.255.254", Refusal::Shared),
            ("127.0.0.1", Refusal::Loopback),
            ("127.255.0.9", Refusal::Loopback),
            ("169.254.0.1", Refusal::LinkLocal),
            ("169.254.169.254", Refusal::Metadata),
            ("169.254.170.2", Refusal::Metadata),
            ("169.254.170.23", Refusal::Metadata),
            ("100.100.100.200", Refusal::Metadata),
            ("168.63.129.16", Refusal::Metadata),
            ("172.16.0.1", Refusal::Private),
            ("172.31.255.255", Refusal::Private),
            ("192.0.0.8", Refusal::Reserved),
            ("192.0.2.10", Refusal::Documentation),
            ("192.88.99.1", Refusal::Reserved),
            ("192.168.1.1", Refusal::Private),
            ("198.18.0.1", Refusal::Benchmarking),
            ("198.19.255.255", Refusal::Benchmarking),
            ("198.51.100.7", Refusal::Documentation),
            ("203.0.113.9", Refusal::Documentation),
            ("224.0.0.1", Refusal::Multicast),
            ("239.255.255.250", Refusal::Multicast),
            ("240.0.0.1", Refusal::Reserved),
            ("255.255.255.255", Refusal::Broadcast),
        ];
        for (ip, expected) in cases {
            assert_eq!(of(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_next_to_the_ranges_passes() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "168.63.129.17",
        ] {
            assert_eq!(of(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_special_ipv6_range_is_refused() {
        let cases = [
            ("::", Refusal::Unspecified),
            ("::1", Refusal::Loopback),
            ("::2", Refusal::Reserved),
            ("::127.0.0.1", Refusal::Reserved),
            ("64:ff9b:1::1", Refusal::Reserved),
            ("100::1", Refusal::Reserved),
            ("2001:2::1", Refusal::Benchmarking),
            ("2001:db8::1", Refusal::Documentation),
            ("3fff:fff::1", Refusal::Documentation),
            ("fc00::1", Refusal::Private),
            ("fd12:3456::1", Refusal::Private),
            ("fd00:ec2::254", Refusal::Metadata),
            ("fd00:ec2::23", Refusal::Metadata),
            ("fe80::1", Refusal::LinkLocal),
            ("febf::1", Refusal::LinkLocal),
            ("fec0::1", Refusal::Reserved),
            ("ff02::1", Refusal::Multicast),
        ];
        for (ip, expected) in cases {
            assert_eq!(of(ip), Some(expected), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:4860::8888",
        ] {
            assert_eq!(of(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_judged_by_the_ipv4_address() {
        let cases = [
            ("::ffff:127.0.0.1", Some(Refusal::Loopback)),
            ("::ffff:7f00:1", Some(Refusal::Loopback)),
            ("::ffff:169.254.169.254", Some(Refusal::Metadata)),
            ("::ffff:10.0.0.5", Some(Refusal::Private)),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::10.0.0.5", Some(Refusal::Private)),
            ("64:ff9b::169.254.169.254", Some(Refusal::Metadata)),
            ("64:ff9b::8.8.8.8", None),
            ("2002:a00:5::1", Some(Refusal::Private)),
            ("2002:7f00:1::", Some(Refusal::Loopback)),
            ("2002:808:808::1", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(of(ip), expected, "{ip}");
        }
    }
}
