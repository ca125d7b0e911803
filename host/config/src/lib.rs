//! kumo's configuration: one TOML file, parsed into typed data and validated, with every error
//! naming the key path (`clients[2].max_prefix.action`) and, when known, line and column.
//!
//! Module map:
//! - [`model`]: the types ([`Config`], [`Server`], [`Client`], [`MaxPrefix`], ...) with their
//!   serde defaults; every table denies unknown keys.
//! - `addr`: address forms (`server.listen` as `"IP"`, `"IP:PORT"`, `"[IPv6]:PORT"`; IPs),
//!   with errors that quote the offending text.
//! - `validate`: rules across fields and entries (ranges, uniqueness, references); collects all
//!   problems rather than stopping at the first.
//! - [`path`]: [`KeyPath`] and [`Location`], and finding where a key path is written in the file.
//! - [`error`]: [`ConfigError`] and [`Problem`], rendered compiler-style
//!   (`kumo.toml:12:10: clients[2].asn: must not be 0 ...`).
//!
//! Parsing runs in three stages: TOML syntax (toml's parser, which gives a span), the typed
//! schema (serde through `serde_path_to_error`, which gives the key path), then validation. A
//! stage runs only when the previous one succeeded, because its input would not exist otherwise.
//!
//! The operator's reference for every key is `docs/configuration.md`.

mod addr;
pub mod error;
pub mod model;
pub mod path;
mod validate;

use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

pub use addr::parse_listen_addr;
pub use error::{ConfigError, Problem};
pub use model::{
    AddPath, Admin, Afi, BGP_PORT, Client, Config, DEFAULT_POLICY, Irr, MaxPrefix, MaxPrefixAction,
    PolicyConfig, Rpki, RpkiStale, Server, SigtermAction,
};
pub use path::{KeyPath, Location, Segment};

/// Parses and validates a configuration from TOML text.
///
/// ```
/// let text = "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nhold_time = 1\n";
/// let error = kumo_config::parse(text).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "4:13: server.hold_time: 1 is not allowed: must be 0 or at least 3 seconds (RFC 4271)"
/// );
/// ```
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid { file: None, problems };

    let root = DeTable::parse(text).map_err(|error| {
        invalid(vec![Problem {
            path: None,
            message: error.message().to_owned(),
            location: error.span().map(|span| Location::from_offset(text, span.start)),
        }])
    })?;

    let config: Config = serde_path_to_error::deserialize(toml::Deserializer::from(root.clone()))
        .map_err(|error| invalid(vec![schema_problem(text, &root, error)]))?;

    let findings = validate::config(&config);
    if findings.0.is_empty() {
        return Ok(config);
    }
    let mut problems: Vec<Problem> = findings
        .0
        .into_iter()
        .map(|(path, message)| Problem {
            location: path::offset_of(&root, &path).map(|offset| Location::from_offset(text, offset)),
            path: Some(path),
            message,
        })
        .collect();
    // File order, so the operator can work down the file.
    problems.sort_by_key(|problem| {
        problem
            .location
            .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
    });
    Err(invalid(problems))
}

/// Reads, parses and validates a configuration file. Errors name the file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut config = parse(&text).map_err(|error| error.with_file(path.to_owned()))?;
    config.base_dir = path.parent().map(Path::to_owned);
    Ok(config)
}

/// Turns a deserialization error into a problem about the exact key.
fn schema_problem(
    text: &str,
    root: &Spanned<DeTable<'_>>,
    error: serde_path_to_error::Error<toml::de::Error>,
) -> Problem {
    let mut path = KeyPath::from_serde(error.path());
    let error = error.into_inner();
    let mut message = error.message().to_owned();
    let mut location = error.span().map(|span| Location::from_offset(text, span.start));

    // serde names an unknown or missing key only in the message; the path stops at the table
    // that holds it. Move the key into the path, where the operator looks for it.
    if let Some(key) = quoted_after(&message, "unknown field ") {
        if path.segments().last() != Some(&Segment::Key(key.clone())) {
            path = path.key(key);
        }
    } else if let Some(key) = quoted_after(&message, "missing field ") {
        path = path.key(key);
        message = "required key is missing".to_owned();
        // toml points at the whole enclosing table; for the document itself that is line 1,
        // which says nothing.
        location = path::offset_of(root, &path.parent()).map(|offset| Location::from_offset(text, offset));
    }

    let mut message = requote(&message);
    for (rust, range) in [
        ("u16", "65535"),
        ("u32", "4294967295"),
        ("u64", "18446744073709551615"),
    ] {
        if let Some(head) = message.strip_suffix(&format!("expected {rust}")) {
            message = format!("{head}expected an integer from 0 to {range}");
        }
    }
    if path.segments() == [Segment::Key("clients".to_owned())] && message.contains("expected a sequence") {
        message.push_str("; write each client as a [[clients]] table");
    }

    Problem {
        path: Some(path),
        message,
        location,
    }
}

/// serde quotes everything in backticks; operators read TOML, where strings are in double
/// quotes and numbers and booleans are bare.
fn requote(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Parts alternate: quoted, unquoted, quoted, ...
    let mut quoted = true;
    for part in parts {
        if quoted {
            let bare = part.parse::<f64>().is_ok() || part == "true" || part == "false";
            if bare {
                out.push_str(part);
            } else {
                out.push('"');
                out.push_str(part);
                out.push('"');
            }
        } else {
            out.push_str(part);
        }
        quoted = !quoted;
    }
    out
}

/// The backtick-quoted word right after `prefix` at the start of a serde message.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests;
