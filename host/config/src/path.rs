//! Key paths (`clients[2].max_prefix.action`) and source locations (line:column).
//!
//! Every problem kumo reports about a configuration names the key it is about, in the form an
//! operator can search for in the file. The path is also used to find where in the file the key
//! was written, so validation errors get a line and column like syntax errors do.

use std::fmt;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a [`KeyPath`]: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A key in a table, e.g. `server` or `max_prefix`.
    Key(String),
    /// An element of an array, e.g. the third `[[clients]]` table is index 2.
    Index(usize),
}

/// The path of a key in the configuration, displayed the way TOML would address it:
/// `server.hold_time`, `clients[2].max_prefix.action`. The empty path is the document itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath {
    segments: Vec<Segment>,
}

impl KeyPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by a table key.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut path = self.clone();
        path.segments.push(Segment::Key(key.into()));
        path
    }

    /// This path extended by an array index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.segments.push(Segment::Index(index));
        path
    }

    /// The steps of this path, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this is the document root.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// This path without its last step (the root stays the root).
    #[must_use]
    pub fn parent(&self) -> Self {
        let mut path = self.clone();
        path.segments.pop();
        path
    }

    /// Converts the path serde_path_to_error recorded during deserialization.
    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let segments = path
            .iter()
            .filter_map(|segment| match segment {
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Enum { variant } => Some(Segment::Key(variant.clone())),
                // An untracked step carries no name an operator could look for.
                S::Unknown => None,
            })
            .collect();
        Self { segments }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(key) {
                        f.write_str(key)?;
                    } else {
                        // Quote keys the way TOML requires, e.g. `policies."my policy"`.
                        write!(f, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A position in the configuration text, both numbers counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The line and column of a byte offset into `text` (clamped to the end of the text).
    pub fn from_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        // A span may start inside a multi-byte character only if the offset is bogus; step back
        // to a boundary rather than panic on slicing.
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Finds the byte offset where `path` is written in the parsed document: the value of the key
/// when it is present, else the nearest enclosing table or array that is (so a missing or
/// defaulted key points at the table it belongs in). `None` only for the document root.
pub(crate) fn offset_of(root: &Spanned<DeTable<'_>>, path: &KeyPath) -> Option<usize> {
    let mut table = Some(root.get_ref());
    let mut array = None;
    let mut found = None;
    for segment in path.segments() {
        let next: Option<&Spanned<DeValue<'_>>> = match segment {
            Segment::Key(key) => table.and_then(|t| {
                t.iter()
                    .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
                    .map(|(_, v)| v)
            }),
            Segment::Index(index) => array.and_then(|a: &toml::de::DeArray<'_>| a.get(*index)),
        };
        let Some(value) = next else { break };
        found = Some(value.span().start);
        table = value.get_ref().as_table();
        array = value.get_ref().as_array();
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_toml_addressing() {
        let path = KeyPath::root()
            .key("clients")
            .index(2)
            .key("max_prefix")
            .key("action");
        assert_eq!(path.to_string(), "clients[2].max_prefix.action");
        assert_eq!(
            KeyPath::root().key("policies").key("my policy").to_string(),
            "policies.\"my policy\""
        );
        assert_eq!(KeyPath::root().to_string(), "(top level)");
        assert_eq!(path.parent().to_string(), "clients[2].max_prefix");
    }

    #[test]
    fn location_counts_lines_and_characters_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(Location::from_offset(text, 0), Location { line: 1, column: 1 });
        let offset = text.find('=').unwrap();
        assert_eq!(
            Location::from_offset(text, offset),
            Location { line: 1, column: 3 }
        );
        let offset = text.rfind('=').unwrap();
        // `é` is two bytes but one column.
        assert_eq!(
            Location::from_offset(text, offset),
            Location { line: 2, column: 4 }
        );
        assert_eq!(
            Location::from_offset(text, 10_000),
            Location { line: 3, column: 1 }
        );
    }

    #[test]
    fn offset_of_finds_values_in_tables_and_arrays() {
        let text = "[server]\nasn = 1\n\n[[clients]]\nname = \"a\"\n\n[[clients]]\nname = \"b\"\n";
        let root = DeTable::parse(text).unwrap();
        let at = |path: &KeyPath| offset_of(&root, path).map(|offset| Location::from_offset(text, offset));
        let clients = KeyPath::root().key("clients");
        assert_eq!(
            at(&clients.index(1).key("name")),
            Some(Location { line: 8, column: 8 })
        );
        assert_eq!(
            at(&KeyPath::root().key("server").key("asn")),
            Some(Location { line: 2, column: 7 })
        );
        // A key that is absent points at its table.
        let missing = at(&clients.index(0).key("asn")).unwrap();
        assert_eq!(missing.line, 4);
        assert_eq!(at(&KeyPath::root()), None);
    }
}
