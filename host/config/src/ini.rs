//! The INI lexer: sections, keys and (multi-line) values with line numbers.
//! Public so that the secrets crate reads decrypted text with the same
//! syntax and line numbers.
//!
//! It knows nothing about berth's sections; it only enforces the syntax and
//! that no section or key appears twice. Each entry keeps its own
//! [`Origin`], so documents from several files (`extends`, later) can be
//! merged without losing where a value came from.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{ConfigError, Origin};

/// A parsed file: its sections in file order.
#[derive(Debug, Clone)]
pub struct Document {
    pub sections: Vec<Section>,
}

/// `[name]` and the entries below it, in file order.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    /// The line of the `[name]` header.
    pub origin: Origin,
    pub entries: Vec<Entry>,
}

/// `key = value`, where the value may continue on indented lines.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    /// The line of the key.
    pub origin: Origin,
    /// The value's lines, trimmed. An empty first line (`key =` followed by
    /// continuation lines) and trailing blank lines are not kept.
    pub lines: Vec<ValueLine>,
}

/// One line of a value and its line number in the entry's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueLine {
    pub text: String,
    pub line: usize,
}

impl Entry {
    /// The value: its lines joined by newlines.
    pub fn value(&self) -> String {
        let mut value = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                value.push('\n');
            }
            value.push_str(&line.text);
        }
        value
    }
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Parses `text`, the content of `file`.
///
/// Errors: a line that is neither a header, a `key = value`, a comment, a
/// blank line nor the continuation of a value; a key before the first
/// section; an empty or malformed section name or key; a section or a key
/// (within one section) given twice.
pub fn parse(file: &Path, text: &str) -> Result<Document, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<Section> = Vec::new();
    let mut section_lines: HashMap<String, usize> = HashMap::new();
    let mut key_lines: HashMap<String, usize> = HashMap::new();
    // Blank lines inside a value are kept only if more of the value follows.
    let mut pending_blanks: Vec<usize> = Vec::new();
    let mut in_entry = false;

    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let origin = || Origin::new(file, number);
        let trimmed = raw.trim();

        if trimmed.is_empty() {
            if in_entry {
                pending_blanks.push(number);
            }
            continue;
        }
        if raw.starts_with('#') || raw.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            let entry = if in_entry {
                sections.last_mut().and_then(|s| s.entries.last_mut())
            } else {
                None
            };
            let Some(entry) = entry else {
                return Err(ConfigError::at(
                    &origin(),
                    format!("indented line `{trimmed}` continues no key"),
                )
                .with_hint(
                    "indented lines continue the value of the key above; \
                     remove the indentation, or comment it out with `#` in the first column",
                ));
            };
            for line in pending_blanks.drain(..) {
                entry.lines.push(ValueLine {
                    text: String::new(),
                    line,
                });
            }
            entry.lines.push(ValueLine {
                text: trimmed.to_owned(),
                line: number,
            });
            continue;
        }
        pending_blanks.clear();

        if let Some(rest) = raw.strip_prefix('[') {
            in_entry = false;
            let Some(inner) = rest.trim_end().strip_suffix(']') else {
                return Err(ConfigError::at(
                    &origin(),
                    format!("section header `{trimmed}` does not end with `]`"),
                ));
            };
            let name = inner.trim();
            if name.is_empty() {
                return Err(ConfigError::at(&origin(), "empty section name `[]`"));
            }
            if name.contains(['[', ']']) {
                return Err(ConfigError::at(
                    &origin(),
                    format!("invalid section name `{name}`"),
                ));
            }
            if let Some(first) = section_lines.get(name) {
                return Err(ConfigError::at(
                    &origin(),
                    format!(
                        "duplicate section `[{name}]`; it is first defined at {}",
                        Origin::new(file, *first)
                    ),
                )
                .with_hint("merge the two sections into one"));
            }
            section_lines.insert(name.to_owned(), number);
            key_lines.clear();
            sections.push(Section {
                name: name.to_owned(),
                origin: origin(),
                entries: Vec::new(),
            });
            continue;
        }

        let Some((key, value)) = raw.split_once('=') else {
            let err = ConfigError::at(
                &origin(),
                format!("expected `key = value`, `[section]` or a comment, found `{trimmed}`"),
            );
            return Err(if trimmed.contains(':') {
                err.with_hint("separate key and value with `=`, not `:`")
            } else {
                err
            });
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::at(
                &origin(),
                format!("missing key before `=` in `{trimmed}`"),
            ));
        }
        if key.contains(char::is_whitespace) {
            let err = ConfigError::at(&origin(), format!("invalid key `{key}`"));
            return Err(if key.contains(':') {
                err.with_hint("separate key and value with `=`, not `:`")
            } else {
                err.with_hint("keys contain no whitespace")
            });
        }
        let Some(section) = sections.last_mut() else {
            return Err(
                ConfigError::at(&origin(), format!("key `{key}` is outside any section"))
                    .with_hint("start the file with a section header such as `[environment]`"),
            );
        };
        if let Some(first) = key_lines.get(key) {
            return Err(ConfigError::at(
                &origin(),
                format!(
                    "duplicate key `{key}` in [{}]; it is first set at {}",
                    section.name,
                    Origin::new(file, *first)
                ),
            ));
        }
        key_lines.insert(key.to_owned(), number);
        let value = value.trim();
        let lines = if value.is_empty() {
            Vec::new()
        } else {
            vec![ValueLine {
                text: value.to_owned(),
                line: number,
            }]
        };
        section.entries.push(Entry {
            key: key.to_owned(),
            origin: origin(),
            lines,
        });
        in_entry = true;
    }
    Ok(Document { sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Document {
        match parse(Path::new("e.cfg"), text) {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(Path::new("e.cfg"), text) {
            Ok(doc) => panic!("expected an error, got {doc:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn lines(entry: &Entry) -> Vec<(&str, usize)> {
        entry
            .lines
            .iter()
            .map(|l| (l.text.as_str(), l.line))
            .collect()
    }

    #[test]
    fn sections_keys_and_line_numbers() {
        let doc = parse_ok("# comment\n[a]\nx = 1\n; other comment\ny=two words \n\n[b]\nz =\n");
        assert_eq!(doc.sections.len(), 2);
        let a = &doc.sections[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.origin.line, 2);
        assert_eq!(a.entries[0].key, "x");
        assert_eq!(a.entries[0].origin.line, 3);
        assert_eq!(a.entries[0].value(), "1");
        assert_eq!(a.entries[1].key, "y");
        assert_eq!(a.entries[1].origin.line, 5);
        assert_eq!(a.entries[1].value(), "two words");
        let b = &doc.sections[1];
        assert_eq!((b.name.as_str(), b.origin.line), ("b", 7));
        assert_eq!(b.entries[0].value(), "");
    }

    #[test]
    fn multi_line_values_keep_each_line_number() {
        let doc = parse_ok(
            "[a]\nlist =\n    one\n\n\ttwo, three\n# skipped\n    four\n\n\nnext = x # not a comment\n",
        );
        let entry = &doc.sections[0].entries[0];
        assert_eq!(
            lines(entry),
            vec![("one", 3), ("", 4), ("two, three", 5), ("four", 7)]
        );
        assert_eq!(entry.value(), "one\n\ntwo, three\nfour");
        let next = &doc.sections[0].entries[1];
        assert_eq!(next.origin.line, 10);
        assert_eq!(next.value(), "x # not a comment");
    }

    #[test]
    fn value_on_the_key_line_continues() {
        let doc = parse_ok("[a]\nk = first\n  second\n");
        assert_eq!(
            lines(&doc.sections[0].entries[0]),
            vec![("first", 2), ("second", 3)]
        );
    }

    #[test]
    fn indented_comment_marker_is_part_of_a_value() {
        let doc = parse_ok("[a]\nk =\n  # kept\n");
        assert_eq!(doc.sections[0].entries[0].value(), "# kept");
    }

    #[test]
    fn crlf_and_bom_are_accepted() {
        let doc = parse_ok("\u{feff}[a]\r\nk = v\r\n  w\r\n");
        assert_eq!(doc.sections[0].entries[0].value(), "v\nw");
    }

    #[test]
    fn equals_sign_in_value_and_spaced_header() {
        let doc = parse_ok("[ a ]\nk = x=y\n");
        assert_eq!(doc.sections[0].name, "a");
        assert_eq!(doc.sections[0].entries[0].value(), "x=y");
    }

    #[test]
    fn duplicate_section_names_the_first() {
        assert_eq!(
            parse_err("[a]\nx = 1\n\n[a]\n"),
            "e.cfg:4: duplicate section `[a]`; it is first defined at e.cfg:1\n  hint: merge the two sections into one"
        );
    }

    #[test]
    fn duplicate_key_names_the_first() {
        assert_eq!(
            parse_err("[a]\nx = 1\ny = 2\nx = 3\n"),
            "e.cfg:4: duplicate key `x` in [a]; it is first set at e.cfg:2"
        );
    }

    #[test]
    fn same_key_in_two_sections_is_fine() {
        let doc = parse_ok("[a]\nx = 1\n[b]\nx = 2\n");
        assert_eq!(doc.sections[1].entries[0].value(), "2");
    }

    #[test]
    fn colon_separator_is_rejected_with_a_hint() {
        let err = parse_err("[a]\ntimeout: 3\n");
        assert!(
            err.starts_with(
                "e.cfg:2: expected `key = value`, `[section]` or a comment, found `timeout: 3`"
            ),
            "{err}"
        );
        assert!(
            err.contains("hint: separate key and value with `=`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            parse_err("k = v\n"),
            "e.cfg:1: key `k` is outside any section\n  hint: start the file with a section header such as `[environment]`"
        );
        assert!(
            parse_err("[a\n").starts_with("e.cfg:1: section header `[a` does not end with `]`")
        );
        assert!(parse_err("[a]\n[ ]\n").starts_with("e.cfg:2: empty section name"));
        assert!(parse_err("[a]\n= v\n").starts_with("e.cfg:2: missing key before `=`"));
        assert!(parse_err("[a]\nmy key = v\n").starts_with("e.cfg:2: invalid key `my key`"));
        assert!(parse_err("[a]\n  v\n").starts_with("e.cfg:2: indented line `v` continues no key"));
        assert!(parse_err("  v\n").starts_with("e.cfg:1: indented line `v` continues no key"));
        assert!(
            parse_err("[a]\nk = 1\n[b]\n  v\n")
                .starts_with("e.cfg:4: indented line `v` continues no key")
        );
    }
}
