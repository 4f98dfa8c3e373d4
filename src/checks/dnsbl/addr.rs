//! Which addresses a public list can know about.

use std::net::IpAddr;

/// Whether `ip` is an address of the public Internet a list could have seen: not loopback,
/// private (RFC 1918, RFC 4193), link-local, shared (RFC 6598), multicast, reserved or
/// unspecified. Querying a list for 10.1.2.3 tells it about the province's network and
/// answers nothing. Documentation ranges (RFC 5737, RFC 3849) count as public: they never
/// reach us from the Internet, and the tests name clients in them through XCLIENT.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_addresses_are_not_public() {
        for private in [
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "0.1.2.3",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["203.0.113.5", "8.8.8.8", "2001:db8::2", "2402:800::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
