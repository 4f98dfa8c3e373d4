//! The client's verified reverse name, as Postfix's smtpd would find it: getnameinfo, then a
//! forward lookup that must lead back to the address (forward-confirmed rDNS). Through the
//! system resolver (nsswitch, /etc/hosts), so the upstream sees the name it would have found
//! itself; the dns-lookup crate wraps the libc calls, which block, hence a blocking task.

use std::net::IpAddr;
use std::time::Duration;

/// What the lookup found; it becomes XCLIENT's NAME attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseName {
    /// A name whose forward lookup includes the address.
    Verified(String),
    /// No name, or one that does not lead back: `[UNAVAILABLE]`.
    Unknown,
    /// The resolver failed or was too slow: `[TEMPUNAVAIL]`.
    TempFail,
}

/// Looks the name of `ip` up, giving up after `limit`.
pub async fn lookup(ip: IpAddr, limit: Duration) -> ReverseName {
    let task = tokio::task::spawn_blocking(move || verify(ip));
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(found)) => found,
        _ => ReverseName::TempFail,
    }
}

fn verify(ip: IpAddr) -> ReverseName {
    let name = match dns_lookup::lookup_addr(&ip) {
        Ok(n) => n,
        Err(_) => return ReverseName::Unknown,
    };
    // getnameinfo gives the numeric form back when there is no name.
    if name.parse::<IpAddr>().is_ok() {
        return ReverseName::Unknown;
    }
    match dns_lookup::lookup_host(&name) {
        Ok(mut addrs) => {
            if addrs.any(|a| a == ip) {
                ReverseName::Verified(name)
            } else {
                ReverseName::Unknown
            }
        }
        Err(_) => ReverseName::TempFail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_has_a_verified_name_and_a_literal_does_not_fake_one() {
        // /etc/hosts names 127.0.0.1 on every Debian machine.
        let found = lookup("127.0.0.1".parse().unwrap(), Duration::from_secs(5)).await;
        assert!(matches!(found, ReverseName::Verified(_)), "{found:?}");
        assert_ne!(
            lookup("127.0.0.1".parse().unwrap(), Duration::ZERO).await,
            ReverseName::Unknown
        );
    }
}
