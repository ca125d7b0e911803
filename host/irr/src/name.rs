//! RPSL names: AS numbers, as-set names (flat `AS-FOO` and hierarchical `AS65000:AS-FOO`) and the
//! `SOURCE::NAME` form that pins a name to one IRR source (IRRd and bgpq4 syntax).

use std::fmt;

/// An as-set name, canonical upper case, optionally pinned to one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetName {
    /// `Some("RIPE")` for `RIPE::AS-FOO`.
    pub source: Option<String>,
    /// `AS-FOO` or `AS65000:AS-FOO`.
    pub name: String,
}

impl fmt::Display for SetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{source}::{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One entry of an as-set's `members:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetMember {
    /// An AS number.
    Asn(u32),
    /// Another as-set.
    Set(SetName),
}

/// Parses `AS64500` (any case) or the asdot form `AS1.10`.
pub(crate) fn parse_asn(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let digits = text
        .get(..2)
        .filter(|p| p.eq_ignore_ascii_case("AS"))
        .map(|_| &text[2..])
        .ok_or_else(|| "not an AS number (expected ASnnn)".to_owned())?;
    let number = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let asn = match digits.split_once('.') {
        None => number(digits),
        Some((high, low)) => match (number(high), number(low)) {
            (Some(high), Some(low)) if high <= 0xffff && low <= 0xffff => Some((high << 16) | low),
            _ => None,
        },
    };
    asn.ok_or_else(|| format!("`{text}` is not a valid AS number"))
}

fn is_set_component(component: &str) -> bool {
    component.len() > 3
        && component.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("AS-"))
        && component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses an as-set name, with an optional `SOURCE::` prefix.
pub(crate) fn parse_set_name(text: &str) -> Result<SetName, String> {
    let text = text.trim();
    let (source, rest) = match text.split_once("::") {
        Some((source, rest)) => {
            if source.is_empty()
                || !source
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("`{source}` is not a source name"));
            }
            (Some(source.to_ascii_uppercase()), rest)
        }
        None => (None, text),
    };
    // RFC 2622 §5: components are AS numbers or set names, and at least one is a set name.
    let mut has_set = false;
    for component in rest.split(':') {
        if is_set_component(component) {
            has_set = true;
        } else if parse_asn(component).is_err() {
            return Err(format!("`{rest}` is not an as-set name"));
        }
    }
    if !has_set {
        return Err(format!("`{rest}` is not an as-set name"));
    }
    Ok(SetName {
        source,
        name: rest.to_ascii_uppercase(),
    })
}

/// Parses one `members:` entry.
pub(crate) fn parse_set_member(text: &str) -> Result<SetMember, String> {
    if let Ok(asn) = parse_asn(text) {
        return Ok(SetMember::Asn(asn));
    }
    let name = parse_set_name(text)?;
    if name.name == "AS-ANY" {
        // RFC 2622 AS-ANY means every AS: as a filter it would accept anything, so refuse it.
        return Err("AS-ANY (every AS) is not expanded".into());
    }
    Ok(SetMember::Set(name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn asn_forms() {
        let table: &[(&str, Option<u32>)] = &[
            ("AS64500", Some(64500)),
            ("as1", Some(1)),
            ("AS4200000000", Some(4_200_000_000)),
            ("AS4294967295", Some(u32::MAX)),
            ("AS4294967296", None),
            ("AS1.10", Some(65_546)),
            ("AS1.65536", None),
            ("AS", None),
            ("AS-FOO", None),
            ("64500", None),
            ("AS+1", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_asn(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn set_name_forms() {
        let ok: &[(&str, Option<&str>, &str)] = &[
            ("AS-FOO", None, "AS-FOO"),
            ("as-foo", None, "AS-FOO"),
            ("ripe::as-foo", Some("RIPE"), "AS-FOO"),
            ("AS65000:AS-CUSTOMERS", None, "AS65000:AS-CUSTOMERS"),
            ("RADB::AS65000:AS-X:AS-Y", Some("RADB"), "AS65000:AS-X:AS-Y"),
        ];
        for (text, source, name) in ok {
            let parsed = parse_set_name(text).unwrap();
            assert_eq!(parsed.source.as_deref(), *source, "{text}");
            assert_eq!(parsed.name, *name, "{text}");
        }
        for bad in [
            "FOO",
            "AS65000",
            "AS65000:FOO",
            "::AS-FOO",
            "AS-",
            "AS-FOO BAR",
            "RIPE:AS-FOO:",
        ] {
            assert!(parse_set_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_set_name("RIPE::as-foo").unwrap().to_string(),
            "RIPE::AS-FOO"
        );
    }

    #[test]
    fn members() {
        assert_eq!(parse_set_member("AS5").unwrap(), SetMember::Asn(5));
        assert!(matches!(parse_set_member("AS-X").unwrap(), SetMember::Set(_)));
        assert!(parse_set_member("AS-ANY").is_err());
        assert!(parse_set_member("RS-FOO").is_err());
    }
}
