//! bgpq4 JSON output (`bgpq4 -j`), as written by bgpq4 1.9.
//!
//! Prefix lists (`bgpq4 -j -l NAME AS-SET`, `-6` for IPv6, `-R`/`-r` for ranges):
//! ```json
//! { "NAME": [
//!     { "prefix": "192.0.2.0\/24", "exact": true },
//!     { "prefix": "198.51.100.0\/24", "exact": false, "less-equal": 26 },
//!     { "prefix": "203.0.113.0\/24", "exact": false,
//!       "greater-equal": 25, "less-equal": 26 }
//! ] }
//! ```
//! AS lists (`bgpq4 -j -t -l NAME AS-SET`): `{"NAME": [ 2906,3333,397213 ]}`.
//!
//! An entry without `greater-equal` starts at the prefix's own length (bgpq4 prints it only
//! with `-r`). A file may hold several lists; an empty list is ambiguous and is read as both an
//! empty AS list and an empty prefix list.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Deserialize;

use crate::error::ParseProblem;

/// One prefix-list entry: `prefix` and every more specific whose length is in `ge..=le`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefixRange {
    /// The prefix (host bits cleared).
    pub prefix: IpNet,
    /// Shortest accepted length.
    pub ge: u8,
    /// Longest accepted length.
    pub le: u8,
}

impl PrefixRange {
    /// An entry matching `prefix` only.
    pub fn exact(prefix: IpNet) -> Self {
        let prefix = prefix.trunc();
        Self {
            prefix,
            ge: prefix.prefix_len(),
            le: prefix.prefix_len(),
        }
    }

    /// True when `candidate` is `prefix` or a more specific of it with a length in `ge..=le`.
    pub fn matches(&self, candidate: &IpNet) -> bool {
        let len = candidate.prefix_len();
        self.prefix.contains(candidate) && (self.ge..=self.le).contains(&len)
    }
}

/// One list from a bgpq4 JSON file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bgpq4List {
    Prefixes(Vec<PrefixRange>),
    Asns(Vec<u32>),
    /// `[]`: could be either.
    Empty,
}

enum RawEntry {
    Asn(u32),
    Prefix(RawPrefix),
}

/// Hand-written rather than `#[serde(untagged)]`: untagged buffers the value and reports only
/// "did not match any variant" after it; this keeps serde_json's precise message and position.
impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> serde::de::Visitor<'de> for EntryVisitor {
            type Value = RawEntry;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an AS number or a {\"prefix\", \"exact\", ...} object")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawEntry, E> {
                u32::try_from(v)
                    .map(RawEntry::Asn)
                    .map_err(|_| E::custom(format!("AS number {v} out of range")))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawEntry, A::Error> {
                RawPrefix::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawEntry::Prefix)
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefix {
    prefix: IpNet,
    exact: bool,
    #[serde(rename = "greater-equal")]
    ge: Option<u8>,
    #[serde(rename = "less-equal")]
    le: Option<u8>,
}

/// Reads a bgpq4 JSON document into named lists (names as written; the caller canonicalises).
pub(crate) fn parse(text: &str) -> Result<Vec<(String, Bgpq4List)>, ParseProblem> {
    let raw: BTreeMap<String, Vec<RawEntry>> = serde_json::from_str(text).map_err(|e| {
        ParseProblem::new(
            e.line().max(1),
            format!("not bgpq4 JSON (a map of list name to prefix entries or AS numbers): {e}"),
        )
    })?;
    let mut lists = Vec::with_capacity(raw.len());
    for (name, entries) in raw {
        let mut asns = Vec::new();
        let mut prefixes = Vec::new();
        for entry in entries {
            match entry {
                RawEntry::Asn(asn) => asns.push(asn),
                RawEntry::Prefix(p) => prefixes.push(prefix_range(&p).map_err(|message| {
                    ParseProblem::new(line_of_prefix(text, &p.prefix), format!("list {name}: {message}"))
                })?),
            }
        }
        let list = match (asns.is_empty(), prefixes.is_empty()) {
            (true, true) => Bgpq4List::Empty,
            (false, true) => Bgpq4List::Asns(asns),
            (true, false) => Bgpq4List::Prefixes(prefixes),
            (false, false) => {
                return Err(ParseProblem::new(
                    line_of_name(text, &name),
                    format!("list {name} mixes AS numbers and prefixes"),
                ));
            }
        };
        lists.push((name, list));
    }
    Ok(lists)
}

fn prefix_range(raw: &RawPrefix) -> Result<PrefixRange, String> {
    let prefix = raw.prefix.trunc();
    let len = prefix.prefix_len();
    let max = prefix.max_prefix_len();
    if raw.exact {
        if raw.ge.is_some() || raw.le.is_some() {
            return Err(format!("{prefix}: \"exact\": true with a length range"));
        }
        return Ok(PrefixRange::exact(prefix));
    }
    let ge = raw.ge.unwrap_or(len);
    // bgpq4 always prints less-equal for inexact entries; without it, allow up to host routes.
    let le = raw.le.unwrap_or(max);
    if !(len <= ge && ge <= le && le <= max) {
        return Err(format!("{prefix}: bad length range {ge}..={le}"));
    }
    Ok(PrefixRange { prefix, ge, le })
}

/// serde does not locate values, so find the entry's line by its text (bgpq4 escapes `/`).
fn line_of_prefix(text: &str, prefix: &IpNet) -> usize {
    let plain = prefix.to_string();
    let escaped = plain.replace('/', "\\/");
    line_of(text, &escaped)
        .or_else(|| line_of(text, &plain))
        .unwrap_or(1)
}

fn line_of_name(text: &str, name: &str) -> usize {
    line_of(text, &format!("\"{name}\"")).unwrap_or(1)
}

fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap()
    }

    fn range(p: &str, ge: u8, le: u8) -> PrefixRange {
        PrefixRange {
            prefix: p.parse().unwrap(),
            ge,
            le,
        }
    }

    /// The fixtures are real bgpq4 1.9 output (see testdata/README.md).
    #[test]
    fn reads_real_bgpq4_output() {
        let table: &[(&str, &str, Bgpq4List)] = &[
            (
                "bgpq4-v4-exact.json",
                "AS_TEST_V4",
                Bgpq4List::Prefixes(vec![
                    range("192.0.2.0/24", 24, 24),
                    range("198.51.100.0/24", 24, 24),
                    range("198.51.100.0/25", 25, 25),
                    range("203.0.113.0/24", 24, 24),
                    range("203.0.113.128/25", 25, 25),
                ]),
            ),
            (
                "bgpq4-v4-ge-le.json",
                "AS_TEST_V4",
                Bgpq4List::Prefixes(vec![
                    range("192.0.2.0/24", 25, 26),
                    range("198.51.100.0/24", 25, 26),
                    range("203.0.113.0/24", 25, 26),
                ]),
            ),
            (
                "bgpq4-v4-le.json",
                "AS_TEST_V4",
                Bgpq4List::Prefixes(vec![
                    range("192.0.2.0/24", 24, 26),
                    range("198.51.100.0/24", 24, 26),
                    range("203.0.113.0/24", 24, 26),
                ]),
            ),
            (
                "bgpq4-v6-le.json",
                "AS_TEST_V6",
                Bgpq4List::Prefixes(vec![range("2001:db8::/32", 32, 48)]),
            ),
            (
                "bgpq4-asns.json",
                "AS_TEST",
                Bgpq4List::Asns(vec![2906, 3333, 397_213]),
            ),
            ("bgpq4-asns-empty.json", "AS_EMPTY", Bgpq4List::Empty),
        ];
        for (file, name, want) in table {
            let lists = parse(&fixture(file)).unwrap();
            assert_eq!(lists, vec![((*name).to_owned(), want.clone())], "{file}");
        }
    }

    #[test]
    fn range_matching() {
        let r = range("192.0.2.0/24", 25, 26);
        let table = [
            ("192.0.2.0/24", false),
            ("192.0.2.0/25", true),
            ("192.0.2.192/26", true),
            ("192.0.2.0/27", false),
            ("198.51.100.0/25", false),
            ("2001:db8::/32", false),
        ];
        for (p, want) in table {
            assert_eq!(r.matches(&p.parse().unwrap()), want, "{p}");
        }
    }

    #[test]
    fn errors_carry_a_line() {
        let bad_range = "{ \"L\": [\n  { \"prefix\": \"192.0.2.0\\/24\", \"exact\": true },\n  { \"prefix\": \"10.0.0.0\\/8\", \"exact\": false, \"greater-equal\": 4, \"less-equal\": 24 }\n] }";
        let p = parse(bad_range).unwrap_err();
        assert_eq!(p.line, 3, "{}", p.message);
        assert!(p.message.contains("10.0.0.0/8"), "{}", p.message);

        let bad_json = "{ \"L\": [\n  { \"prefix\": \"192.0.2.0/33\", \"exact\": true }\n] }";
        assert_eq!(parse(bad_json).unwrap_err().line, 2);

        let mixed = "{\"L\": [\n 1,\n {\"prefix\": \"192.0.2.0/24\", \"exact\": true}]}";
        assert!(parse(mixed).unwrap_err().message.contains("mixes"));

        let exact_with_range = r#"{"L": [{"prefix": "192.0.2.0/24", "exact": true, "less-equal": 24}]}"#;
        assert!(parse(exact_with_range).is_err());
    }
}
