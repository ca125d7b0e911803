//! Route-server action communities written as patterns, the way IX operators
//! configure them (arouteserver's `general.yml` syntax): `"0:peer_as"`,
//! `"rs_as:peer_as"`, `"rs_as:0:peer_as"`, `"65511:peer_as"`.
//!
//! A pattern has one field per community part. Each field is a number, the
//! route server's ASN (`rs_as`, replaced when parsing) or the `peer_as`
//! placeholder: the ASN of the client an action is about, read back from a
//! route's community with [`StdPattern::peer`] / [`LargePattern::peer`].
//!
//! ```
//! use kumo_sdk::communities::{LargePattern, StdPattern};
//! use kumo_sdk::{Community, LargeCommunity};
//!
//! let no_export_to: StdPattern = StdPattern::parse("0:peer_as", 64500).unwrap();
//! assert_eq!(no_export_to.peer(Community::new(0, 3333)), Some(3333));
//! let only_to = LargePattern::parse("rs_as:1:peer_as", 64500).unwrap();
//! assert_eq!(only_to.peer(LargeCommunity::new(64500, 1, 4_200_000_001)), Some(4_200_000_001));
//! assert_eq!(only_to.peer(LargeCommunity::new(64501, 1, 3333)), None);
//! ```

use std::fmt;

use crate::{Community, LargeCommunity};

/// One part of a community pattern.
///
/// ```
/// use kumo_sdk::communities::Field;
/// assert_eq!(Field::parse("rs_as", 64500), Some(Field::Value(64500)));
/// assert_eq!(Field::parse("peer_as", 64500), Some(Field::PeerAs));
/// assert_eq!(Field::parse("x", 64500), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A fixed value (`rs_as` is parsed to one).
    Value(u32),
    /// The ASN of the peer the action is about.
    PeerAs,
}

impl Field {
    /// Parse one part: a number, `rs_as` or `peer_as`.
    ///
    /// ```
    /// assert!(kumo_sdk::communities::Field::parse("65511", 1).is_some());
    /// ```
    pub fn parse(text: &str, rs_as: u32) -> Option<Field> {
        match text.trim() {
            "rs_as" => Some(Field::Value(rs_as)),
            "peer_as" => Some(Field::PeerAs),
            number => number.parse().ok().map(Field::Value),
        }
    }
}

/// Why a pattern does not parse.
///
/// ```
/// let err = kumo_sdk::communities::StdPattern::parse("0:70000", 1).unwrap_err();
/// assert!(err.to_string().contains("0:70000"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "community pattern {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for PatternError {}

fn split<const N: usize>(text: &str, rs_as: u32) -> Result<[Field; N], PatternError> {
    let err = |reason| PatternError {
        pattern: text.to_owned(),
        reason,
    };
    let mut fields = [Field::Value(0); N];
    let mut parts = text.split(':');
    for field in &mut fields {
        let part = parts.next().ok_or_else(|| err("too few parts"))?;
        *field = Field::parse(part, rs_as).ok_or_else(|| err("a part is not a number, rs_as or peer_as"))?;
    }
    if parts.next().is_some() {
        return Err(err("too many parts"));
    }
    if fields.iter().filter(|f| **f == Field::PeerAs).count() > 1 {
        return Err(err("peer_as may appear once"));
    }
    Ok(fields)
}

/// A standard (RFC 1997) community pattern: `high:low`, each a 16-bit number,
/// `rs_as` or `peer_as`.
///
/// A pattern naming `rs_as` cannot be written when the route server's ASN
/// does not fit 16 bits: [`StdPattern::parse`] refuses it.
///
/// ```
/// use kumo_sdk::{Community, communities::StdPattern};
/// let p = StdPattern::parse("rs_as:peer_as", 64500).unwrap();
/// assert!(p.matches_peer(Community::new(64500, 3333), 3333));
/// assert!(!p.matches_peer(Community::new(64500, 3333), 6939));
/// assert!(StdPattern::parse("rs_as:peer_as", 4_200_000_000).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StdPattern {
    /// The high (ASN) half.
    pub high: Field,
    /// The low (value) half.
    pub low: Field,
}

impl StdPattern {
    /// Parse `"a:b"`; `rs_as` is replaced by `rs_as`.
    ///
    /// ```
    /// let p = kumo_sdk::communities::StdPattern::parse("0:rs_as", 64500).unwrap();
    /// assert_eq!(p.fixed(), Some(kumo_sdk::Community::new(0, 64500)));
    /// ```
    pub fn parse(text: &str, rs_as: u32) -> Result<Self, PatternError> {
        let [high, low] = split::<2>(text, rs_as)?;
        for field in [high, low] {
            if let Field::Value(v) = field
                && v > u32::from(u16::MAX)
            {
                return Err(PatternError {
                    pattern: text.to_owned(),
                    reason: "a part does not fit 16 bits (a 32-bit rs_as needs large communities)",
                });
            }
        }
        Ok(StdPattern { high, low })
    }

    /// The community itself, when the pattern has no `peer_as`.
    ///
    /// ```
    /// let p = kumo_sdk::communities::StdPattern::parse("0:peer_as", 1).unwrap();
    /// assert_eq!(p.fixed(), None);
    /// ```
    pub fn fixed(&self) -> Option<Community> {
        match (self.high, self.low) {
            (Field::Value(h), Field::Value(l)) => Some(Community((h << 16) | l)),
            _ => None,
        }
    }

    /// The peer ASN that `community` names through this pattern (`None` if it
    /// does not match, or the pattern has no `peer_as`).
    ///
    /// ```
    /// use kumo_sdk::{Community, communities::StdPattern};
    /// let p = StdPattern::parse("65511:peer_as", 64500).unwrap();
    /// assert_eq!(p.peer(Community::new(65511, 6939)), Some(6939));
    /// assert_eq!(p.peer(Community::new(65512, 6939)), None);
    /// ```
    pub fn peer(&self, community: Community) -> Option<u32> {
        let (high, low) = (u32::from(community.asn()), u32::from(community.value()));
        match (self.high, self.low) {
            (Field::Value(h), Field::PeerAs) if h == high => Some(low),
            (Field::PeerAs, Field::Value(l)) if l == low => Some(high),
            _ => None,
        }
    }

    /// Does `community` match the pattern for any value of `peer_as`?
    ///
    /// ```
    /// use kumo_sdk::{Community, communities::StdPattern};
    /// let p = StdPattern::parse("0:peer_as", 64500).unwrap();
    /// assert!(p.matches_any(Community::new(0, 1)));
    /// assert!(!p.matches_any(Community::new(1, 0)));
    /// ```
    pub fn matches_any(&self, community: Community) -> bool {
        match self.fixed() {
            Some(fixed) => fixed == community,
            None => self.peer(community).is_some(),
        }
    }

    /// Does `community` match the pattern with `peer_as` = `peer`? A peer
    /// whose ASN does not fit 16 bits never matches a `peer_as` pattern.
    ///
    /// ```
    /// use kumo_sdk::{Community, communities::StdPattern};
    /// let p = StdPattern::parse("0:peer_as", 64500).unwrap();
    /// assert!(p.matches_peer(Community::new(0, 3333), 3333));
    /// ```
    pub fn matches_peer(&self, community: Community, peer: u32) -> bool {
        match self.fixed() {
            Some(fixed) => fixed == community,
            None => self.peer(community) == Some(peer),
        }
    }
}

impl fmt::Display for StdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |field: Field| match field {
            Field::Value(v) => v.to_string(),
            Field::PeerAs => "peer_as".to_owned(),
        };
        write!(f, "{}:{}", part(self.high), part(self.low))
    }
}

/// A large (RFC 8092) community pattern: `global:data1:data2`, each a 32-bit
/// number, `rs_as` or `peer_as`.
///
/// ```
/// use kumo_sdk::{LargeCommunity, communities::LargePattern};
/// let p = LargePattern::parse("rs_as:0:peer_as", 64500).unwrap();
/// assert!(p.matches_peer(LargeCommunity::new(64500, 0, 196_608), 196_608));
/// assert!(p.matches_any(LargeCommunity::new(64500, 0, 1)));
/// assert!(!p.matches_any(LargeCommunity::new(64500, 1, 1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LargePattern {
    /// The three parts.
    pub fields: [Field; 3],
}

impl LargePattern {
    /// Parse `"a:b:c"`; `rs_as` is replaced by `rs_as`.
    ///
    /// ```
    /// let p = kumo_sdk::communities::LargePattern::parse("rs_as:0:0", 64500).unwrap();
    /// assert_eq!(p.fixed(), Some(kumo_sdk::LargeCommunity::new(64500, 0, 0)));
    /// ```
    pub fn parse(text: &str, rs_as: u32) -> Result<Self, PatternError> {
        Ok(LargePattern {
            fields: split::<3>(text, rs_as)?,
        })
    }

    /// The community itself, when the pattern has no `peer_as`.
    ///
    /// ```
    /// let p = kumo_sdk::communities::LargePattern::parse("1:2:peer_as", 1).unwrap();
    /// assert_eq!(p.fixed(), None);
    /// ```
    pub fn fixed(&self) -> Option<LargeCommunity> {
        match self.fields {
            [Field::Value(g), Field::Value(a), Field::Value(b)] => Some(LargeCommunity::new(g, a, b)),
            _ => None,
        }
    }

    /// The peer ASN that `community` names through this pattern.
    ///
    /// ```
    /// use kumo_sdk::{LargeCommunity, communities::LargePattern};
    /// let p = LargePattern::parse("rs_as:101:peer_as", 64500).unwrap();
    /// assert_eq!(p.peer(LargeCommunity::new(64500, 101, 6939)), Some(6939));
    /// ```
    pub fn peer(&self, community: LargeCommunity) -> Option<u32> {
        let parts = [community.global, community.data1, community.data2];
        let mut peer = None;
        for (field, value) in self.fields.iter().zip(parts) {
            match *field {
                Field::Value(v) if v != value => return None,
                Field::Value(_) => {}
                Field::PeerAs => peer = Some(value),
            }
        }
        peer
    }

    /// Does `community` match the pattern for any value of `peer_as`?
    ///
    /// ```
    /// use kumo_sdk::{LargeCommunity, communities::LargePattern};
    /// let p = LargePattern::parse("rs_as:0:0", 64500).unwrap();
    /// assert!(p.matches_any(LargeCommunity::new(64500, 0, 0)));
    /// ```
    pub fn matches_any(&self, community: LargeCommunity) -> bool {
        match self.fixed() {
            Some(fixed) => fixed == community,
            None => self.peer(community).is_some(),
        }
    }

    /// Does `community` match the pattern with `peer_as` = `peer`?
    ///
    /// ```
    /// use kumo_sdk::{LargeCommunity, communities::LargePattern};
    /// let p = LargePattern::parse("rs_as:1:peer_as", 64500).unwrap();
    /// assert!(!p.matches_peer(LargeCommunity::new(64500, 1, 3333), 6939));
    /// ```
    pub fn matches_peer(&self, community: LargeCommunity, peer: u32) -> bool {
        match self.fixed() {
            Some(fixed) => fixed == community,
            None => self.peer(community) == Some(peer),
        }
    }
}

impl fmt::Display for LargePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for field in self.fields {
            match field {
                Field::Value(v) => write!(f, "{sep}{v}")?,
                Field::PeerAs => write!(f, "{sep}peer_as")?,
            }
            sep = ":";
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors() {
        for bad in ["", "1", "1:2:3", "a:1", "peer_as:peer_as", "65536:1"] {
            assert!(StdPattern::parse(bad, 64500).is_err(), "{bad}");
        }
        for bad in ["1:2", "1:2:3:4", "1:x:3", "peer_as:1:peer_as"] {
            assert!(LargePattern::parse(bad, 64500).is_err(), "{bad}");
        }
        assert_eq!(
            LargePattern::parse(" rs_as : 0 : peer_as ", 7)
                .unwrap()
                .to_string(),
            "7:0:peer_as"
        );
        assert_eq!(
            StdPattern::parse("0:peer_as", 7).unwrap().to_string(),
            "0:peer_as"
        );
    }

    #[test]
    fn peer_in_the_high_half() {
        let p = StdPattern::parse("peer_as:65000", 1).unwrap();
        assert_eq!(p.peer(Community::new(3333, 65000)), Some(3333));
        assert_eq!(p.peer(Community::new(3333, 65001)), None);
        assert!(!p.matches_peer(Community::new(3333, 65000), 70_000));
    }
}
