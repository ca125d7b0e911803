//! Addresses as operators write them: `server.listen` (`"IP"`, `"IP:PORT"`, `"[IPv6]:PORT"`; a
//! bare IP means port 179), `router_id` and client `ip` lists. Errors quote the offending text.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use crate::model::BGP_PORT;

/// Parses one listen address as an operator writes it.
pub fn parse_listen_addr(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, BGP_PORT));
    }
    // `[2001:db8::1]` without a port.
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    match inner.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V6(_)) => Some(SocketAddr::new(ip, BGP_PORT)),
        _ => None,
    }
}

/// One listen address. A newtype so each array element is deserialized on its own and an error
/// names its index (`server.listen[1]`).
struct ListenAddr(SocketAddr);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor {
            expecting: "a listen address",
            parse: |text: &str| {
                parse_listen_addr(text).map(ListenAddr).ok_or_else(|| {
                    format!(
                        "invalid listen address \"{text}\": expected \"IP\", \"IP:PORT\" or \"[IPv6]:PORT\""
                    )
                })
            },
        })
    }
}

/// Parses a string inside the deserializer's own call, so the deserializer attaches the
/// string's position to the error (an error made after `String::deserialize` returned would
/// only get the enclosing array's position).
struct TextVisitor<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<'de, T> Visitor<'de> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(E::custom)
    }
}

pub(crate) fn deserialize_listen<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SocketAddr>, D::Error> {
    let addrs = Vec::<ListenAddr>::deserialize(deserializer)?;
    Ok(addrs.into_iter().map(|ListenAddr(addr)| addr).collect())
}

/// One listen-style address (`"ip"` or `"ip:port"`), e.g. the admin API's.
pub(crate) fn deserialize_socket_addr<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SocketAddr, D::Error> {
    ListenAddr::deserialize(deserializer).map(|ListenAddr(addr)| addr)
}

/// An address parsed from a string, with an error that quotes the string (serde's own says only
/// "invalid IP address syntax").
struct Parsed<T>(T);

trait Described: FromStr {
    const WHAT: &'static str;
    const EXPECTING: &'static str;
}

impl Described for IpAddr {
    const WHAT: &'static str = "IP address";
    const EXPECTING: &'static str = "an IP address";
}

impl Described for Ipv4Addr {
    const WHAT: &'static str = "IPv4 address";
    const EXPECTING: &'static str = "an IPv4 address";
}

impl<'de, T: Described> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor {
            expecting: T::EXPECTING,
            parse: |text: &str| {
                text.trim()
                    .parse::<T>()
                    .map(Parsed)
                    .map_err(|_| format!("invalid {} \"{text}\"", T::WHAT))
            },
        })
    }
}

pub(crate) fn deserialize_ipv4<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Ipv4Addr, D::Error> {
    Parsed::deserialize(deserializer).map(|Parsed(ip)| ip)
}

pub(crate) fn deserialize_ips<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    let ips = Vec::<Parsed<IpAddr>>::deserialize(deserializer)?;
    Ok(ips.into_iter().map(|Parsed(ip)| ip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Option<String> {
        parse_listen_addr(text).map(|addr| addr.to_string())
    }

    #[test]
    fn accepts_the_three_documented_forms() {
        assert_eq!(addr("127.0.0.1"), Some("127.0.0.1:179".into()));
        assert_eq!(addr("127.0.0.1:1179"), Some("127.0.0.1:1179".into()));
        assert_eq!(addr("::"), Some("[::]:179".into()));
        assert_eq!(addr("[2001:db8::1]:1179"), Some("[2001:db8::1]:1179".into()));
        assert_eq!(addr("[2001:db8::1]"), Some("[2001:db8::1]:179".into()));
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "localhost:179",
            "127.0.0.1:",
            "127.0.0.1:70000",
            "300.0.0.1",
            "[127.0.0.1]",
            "2001:db8::1:179:x",
            "[::1",
        ] {
            assert_eq!(addr(bad), None, "{bad:?} must be rejected");
        }
    }
}
