//! RPSL (RFC 2622, RFC 4012) reader for the objects a route server filters with.
//!
//! Only `route:`, `route6:` (with `origin:`) and `as-set:` (with `members:`) objects are read;
//! every other class is framed and skipped. Handled syntax: objects separated by blank lines,
//! continuation lines starting with space, tab or `+`, end-of-line comments from `#`, whole-line
//! `%`/`#` comments (whois and dump headers), case-insensitive attribute and set names.
//!
//! Not handled, on purpose: `mbrs-by-ref:`/`member-of:` (membership by reference needs the
//! `mnt-by:` of both objects and is not used by IXP tooling such as bgpq4 or arouteserver; such
//! members are ignored), and `mp-members:` (only meaningful for route-sets).

use ipnet::IpNet;

use crate::error::ParseProblem;
use crate::name::{SetMember, parse_asn, parse_set_member, parse_set_name};

/// A `route:`/`route6:` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteObject {
    pub prefix: IpNet,
    pub origin: u32,
    pub source: String,
}

/// An `as-set:` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AsSetObject {
    /// Canonical (upper-case) set name.
    pub name: String,
    pub members: Vec<SetMember>,
    pub source: String,
    pub line: usize,
}

/// What one RPSL text contributed.
#[derive(Debug, Default)]
pub(crate) struct RpslContent {
    pub routes: Vec<RouteObject>,
    pub as_sets: Vec<AsSetObject>,
    /// Problems that were skipped over (only when not strict).
    pub skipped: Vec<ParseProblem>,
}

struct Attribute {
    /// Lower-case attribute name.
    name: String,
    /// Value with comments removed and continuation lines joined by a space.
    value: String,
    line: usize,
}

/// Reads RPSL text. With `strict`, the first malformed relevant object is an error; otherwise it
/// is skipped and reported in [`RpslContent::skipped`].
pub(crate) fn parse(text: &str, strict: bool) -> Result<RpslContent, ParseProblem> {
    let mut content = RpslContent::default();
    let mut object: Vec<Attribute> = Vec::new();
    // A framing error poisons the rest of the object: skip lines until the next blank line.
    let mut broken = false;

    let report = |content: &mut RpslContent, problem: ParseProblem| -> Result<(), ParseProblem> {
        if strict {
            Err(problem)
        } else {
            content.skipped.push(problem);
            Ok(())
        }
    };

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            if !broken {
                for problem in finish_object(&object, &mut content) {
                    report(&mut content, problem)?;
                }
            }
            object.clear();
            broken = false;
            continue;
        }
        if broken {
            continue;
        }
        if raw.starts_with('%') || raw.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t', '+']) {
            let Some(last) = object.last_mut() else {
                report(
                    &mut content,
                    ParseProblem::new(line, "continuation line outside an object"),
                )?;
                broken = true;
                continue;
            };
            let value = strip_comment(&raw[1..]).trim();
            if !value.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(value);
            }
            continue;
        }
        match raw.split_once(':') {
            Some((name, value)) if is_attribute_name(name) => object.push(Attribute {
                name: name.to_ascii_lowercase(),
                value: strip_comment(value).trim().to_owned(),
                line,
            }),
            _ => {
                report(
                    &mut content,
                    ParseProblem::new(
                        line,
                        format!("expected `attribute: value`, found `{}`", raw.trim()),
                    ),
                )?;
                object.clear();
                broken = true;
            }
        }
    }
    if !broken {
        for problem in finish_object(&object, &mut content) {
            report(&mut content, problem)?;
        }
    }
    Ok(content)
}

fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn strip_comment(value: &str) -> &str {
    value.split_once('#').map_or(value, |(before, _)| before)
}

fn first<'a>(object: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    object.iter().find(|a| a.name == name)
}

fn source_of(object: &[Attribute]) -> String {
    // Objects without `source:` (hand-written files) get the empty source: reachable by
    // unqualified names only.
    first(object, "source")
        .map(|a| a.value.to_ascii_uppercase())
        .unwrap_or_default()
}

/// Turns one framed object into content; returns the problems found (object or members skipped).
fn finish_object(object: &[Attribute], content: &mut RpslContent) -> Vec<ParseProblem> {
    let Some(class) = object.first() else {
        return Vec::new();
    };
    match class.name.as_str() {
        "route" | "route6" => match route_object(class, object) {
            Ok(route) => {
                content.routes.push(route);
                Vec::new()
            }
            Err(problem) => vec![problem],
        },
        "as-set" => {
            let mut problems = Vec::new();
            let name = match parse_set_name(&class.value) {
                Ok(name) => name,
                Err(why) => return vec![ParseProblem::new(class.line, format!("as-set: {why}"))],
            };
            if name.source.is_some() {
                return vec![ParseProblem::new(
                    class.line,
                    format!("as-set: `{}` must not carry a SOURCE:: prefix", class.value),
                )];
            }
            let mut members = Vec::new();
            for attribute in object.iter().filter(|a| a.name == "members") {
                for token in attribute.value.split(|c: char| c == ',' || c.is_whitespace()) {
                    if token.is_empty() {
                        continue;
                    }
                    match parse_set_member(token) {
                        Ok(member) => members.push(member),
                        Err(why) => problems.push(ParseProblem::new(
                            attribute.line,
                            format!("as-set {}: member `{token}` skipped: {why}", name.name),
                        )),
                    }
                }
            }
            content.as_sets.push(AsSetObject {
                name: name.name,
                members,
                source: source_of(object),
                line: class.line,
            });
            problems
        }
        _ => Vec::new(),
    }
}

fn route_object(class: &Attribute, object: &[Attribute]) -> Result<RouteObject, ParseProblem> {
    let text = class.value.split_whitespace().next().unwrap_or_default();
    let prefix: IpNet = text
        .parse()
        .map_err(|_| ParseProblem::new(class.line, format!("{}: `{text}` is not a prefix", class.name)))?;
    let family_ok = matches!(
        (class.name.as_str(), prefix),
        ("route", IpNet::V4(_)) | ("route6", IpNet::V6(_))
    );
    if !family_ok {
        return Err(ParseProblem::new(
            class.line,
            format!("{}: `{text}` is the wrong address family", class.name),
        ));
    }
    let origin = first(object, "origin").ok_or_else(|| {
        ParseProblem::new(class.line, format!("{} {text}: no origin: attribute", class.name))
    })?;
    let asn = parse_asn(&origin.value)
        .map_err(|why| ParseProblem::new(origin.line, format!("origin: `{}`: {why}", origin.value)))?;
    Ok(RouteObject {
        prefix: prefix.trunc(),
        origin: asn,
        source: source_of(object),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::name::SetName;

    #[test]
    fn reads_routes_sets_continuations_and_comments() {
        let text = "\
% whois header
route:  192.0.2.0/24   # documentation prefix
descr:  test
origin: as64500
source: ripe

route6:     2001:db8::/32
origin:     AS64501
source:     RADB

as-set:   as-foo
members:  AS64500, AS64501 # first line
+         AS-BAR
          RIPE::AS-BAZ,,AS65000:AS-QUX
mbrs-by-ref: ANY
source:   RIPE
";
        let c = parse(text, true).unwrap();
        assert_eq!(
            c.routes,
            vec![
                RouteObject {
                    prefix: "192.0.2.0/24".parse().unwrap(),
                    origin: 64500,
                    source: "RIPE".into()
                },
                RouteObject {
                    prefix: "2001:db8::/32".parse().unwrap(),
                    origin: 64501,
                    source: "RADB".into()
                },
            ]
        );
        assert_eq!(c.as_sets.len(), 1);
        let set = &c.as_sets[0];
        assert_eq!(set.name, "AS-FOO");
        assert_eq!(set.source, "RIPE");
        assert_eq!(set.line, 11);
        assert_eq!(
            set.members,
            vec![
                SetMember::Asn(64500),
                SetMember::Asn(64501),
                SetMember::Set(SetName {
                    source: None,
                    name: "AS-BAR".into()
                }),
                SetMember::Set(SetName {
                    source: Some("RIPE".into()),
                    name: "AS-BAZ".into()
                }),
                SetMember::Set(SetName {
                    source: None,
                    name: "AS65000:AS-QUX".into()
                }),
            ]
        );
    }

    #[test]
    fn strict_mode_names_the_line() {
        let text = "route: 192.0.2.0/24\norigin: AS64500\n\nroute: 192.0.2.0/33\norigin: AS1\n";
        let problem = parse(text, true).unwrap_err();
        assert_eq!(problem.line, 4);
        assert!(problem.message.contains("192.0.2.0/33"), "{}", problem.message);
    }

    #[test]
    fn lenient_mode_skips_bad_objects_and_members() {
        let text = "\
route6: 192.0.2.0/24
origin: AS1

route: 198.51.100.0/24
origin: ASX

route: 203.0.113.0/24
source: X

garbage line
origin: AS5

route: 192.0.2.0/24
origin: AS64500

as-set: AS-A
members: AS1, AS-ANY!, AS2
";
        let c = parse(text, false).unwrap();
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.routes[0].origin, 64500);
        assert_eq!(c.as_sets[0].members, vec![SetMember::Asn(1), SetMember::Asn(2)]);
        let lines: Vec<usize> = c.skipped.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 5, 7, 10, 17]);
    }

    #[test]
    fn continuation_outside_object_is_an_error() {
        let problem = parse("  AS1\n", true).unwrap_err();
        assert_eq!(problem.line, 1);
    }

    proptest::proptest! {
        /// Any text, however broken, gives a result or a located problem, never a panic.
        #[test]
        fn never_panics(text in "((route6?|as-set|members|origin|source|[a-zé]{0,4}):? *([0-9a-fA-F:./]{0,12}|AS[0-9.]{0,11}|AS-[A-Zé:]{0,6}|RIPE::AS-X)?[ ,#+\t]{0,2}\n{0,2}){0,12}") {
            let _ = parse(&text, true);
            let lenient = parse(&text, false);
            proptest::prop_assert!(lenient.is_ok());
        }
    }

    #[test]
    fn route_host_bits_are_cleared() {
        let c = parse("route: 192.0.2.1/24\norigin: AS1\n", true).unwrap();
        assert_eq!(c.routes[0].prefix, "192.0.2.0/24".parse::<IpNet>().unwrap());
    }
}
