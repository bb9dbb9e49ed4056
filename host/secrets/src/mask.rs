//! The mask: every text berth shows passes through it, and whatever holds
//! a secret comes out as `********`.

use aho_corasick::{AhoCorasick, MatchKind};
use berth_config::Secrets;
use zeroize::Zeroizing;

/// What berth shows instead of a secret.
pub const MASK: &str = "********";

/// Lines of multi-line values and secret files shorter than this (after
/// trimming) are not searched for on their own: a `}` or `--` would blot
/// out ordinary output and hides nothing. Whole values are always searched.
const MIN_LINE: usize = 4;

/// The masks of every environment whose secrets this process decrypted:
/// berth's own diagnostics (tracing output, which shows the arguments and
/// results of host calls) pass through them.
static DIAGNOSTICS: std::sync::RwLock<Vec<Mask>> = std::sync::RwLock::new(Vec::new());

/// Hides `mask`'s secrets in every diagnostic written from now on (see
/// [`diagnostic`]). [`crate::load`] does this for every environment.
pub(crate) fn hide_in_diagnostics(mask: Mask) {
    if !mask.is_empty() {
        DIAGNOSTICS
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(mask);
    }
}

/// A diagnostic line with the secrets of every environment this process
/// has loaded replaced by [`MASK`]; berth's tracing output is written
/// through this.
pub fn diagnostic(text: &str) -> std::borrow::Cow<'_, str> {
    let masks = DIAGNOSTICS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !masks.iter().any(|m| m.holds(text.as_bytes())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for m in masks.iter() {
        m.apply(&mut out);
    }
    std::borrow::Cow::Owned(out)
}

/// The sensitive strings of a run, and a matcher for them.
///
/// Built from every secret value (attributes, host data), every line of a
/// multi-line value, the JSON-escaped form of each, and every line of every
/// secret file. Its `Debug` output shows how many strings it holds, never
/// them.
#[derive(Clone, Default)]
pub struct Mask {
    matcher: Option<AhoCorasick>,
    count: usize,
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mask")
            .field("strings", &self.count)
            .finish_non_exhaustive()
    }
}

impl Mask {
    /// A mask that hides nothing.
    pub fn none() -> Mask {
        Mask::default()
    }

    /// The mask of `secrets`: every value, line and secret file line.
    pub fn of(secrets: &Secrets) -> Mask {
        let mut needles: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let values = secrets
            .components
            .values()
            .flat_map(|s| s.attributes.values())
            .chain(secrets.hosts.values().flat_map(|d| d.values()));
        for raw in values {
            add_value(&mut needles, raw.value.as_bytes());
        }
        for file in secrets.files.values() {
            add_value(&mut needles, &file.content);
        }
        Mask::from_needles(needles)
    }

    /// A mask of exactly these values (each with its lines and JSON form).
    pub fn new<I, V>(values: I) -> Mask
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let mut needles = Vec::new();
        for v in values {
            add_value(&mut needles, v.as_ref());
        }
        Mask::from_needles(needles)
    }

    fn from_needles(mut needles: Vec<Zeroizing<Vec<u8>>>) -> Mask {
        needles.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
        needles.dedup_by(|a, b| a.as_slice() == b.as_slice());
        if needles.is_empty() {
            return Mask::none();
        }
        // Leftmost-longest: a secret that contains another is hidden whole.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(needles.iter().map(|n| n.as_slice()))
            .ok();
        Mask {
            count: needles.len(),
            matcher,
        }
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Whether `bytes` hold a secret.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(bytes))
    }

    /// `text` with every secret in it replaced by [`MASK`].
    pub fn text(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(MASK);
                    true
                });
                out
            }
            _ => text.to_owned(),
        }
    }

    /// Masks `text` in place.
    pub fn apply(&self, text: &mut String) {
        if self.holds(text.as_bytes()) {
            *text = self.text(text);
        }
    }

    /// A unified diff with every line that holds a secret shown as
    /// `********` (after its `+`, `-` or ` `), the removed lines of a change
    /// whose added lines hold one masked too (a rotated password's old
    /// value), and a last line saying how many lines were masked.
    pub fn diff(&self, diff: &str) -> String {
        if !self.holds(diff.as_bytes()) {
            return diff.to_owned();
        }
        let mut lines: Vec<String> = Vec::new();
        let mut masked = vec![false; 0];
        for line in diff.lines() {
            let (prefix, rest) = match line.chars().next() {
                Some(c @ (' ' | '+' | '-'))
                    if !line.starts_with("+++ ") && !line.starts_with("--- ") =>
                {
                    (c, &line[1..])
                }
                _ => {
                    lines.push(self.text(line));
                    masked.push(false);
                    continue;
                }
            };
            let hide = self.holds(rest.as_bytes());
            lines.push(if hide {
                format!("{prefix}{MASK}")
            } else {
                line.to_owned()
            });
            masked.push(hide);
        }
        // A change block: consecutive `-`/`+` lines. Its removed lines go
        // when an added line holds a secret.
        let mut i = 0;
        while i < lines.len() {
            let is_change = |l: &str| {
                (l.starts_with('-') && !l.starts_with("--- "))
                    || (l.starts_with('+') && !l.starts_with("+++ "))
            };
            if !is_change(&lines[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < lines.len() && is_change(&lines[i]) {
                i += 1;
            }
            let secret_added = (start..i).any(|j| masked[j] && lines[j].starts_with('+'));
            if secret_added {
                for j in start..i {
                    if lines[j].starts_with('-') && !masked[j] {
                        lines[j] = format!("-{MASK}");
                        masked[j] = true;
                    }
                }
            }
        }
        let count = masked.iter().filter(|m| **m).count();
        let mut out = lines.join("\n");
        out.push('\n');
        if count > 0 {
            out.push_str(&format!(
                "(berth masked {count} line{} that hold{} secrets)\n",
                if count == 1 { "" } else { "s" },
                if count == 1 { "s" } else { "" }
            ));
        }
        out
    }
}

/// Adds `value`, its lines and the JSON-escaped form of each.
fn add_value(needles: &mut Vec<Zeroizing<Vec<u8>>>, value: &[u8]) {
    let mut add = |bytes: &[u8], whole: bool| {
        let trimmed = bytes.trim_ascii();
        if trimmed.is_empty() || (!whole && trimmed.len() < MIN_LINE) {
            return;
        }
        needles.push(Zeroizing::new(trimmed.to_vec()));
        if let Ok(text) = std::str::from_utf8(trimmed) {
            let escaped = json_escaped(text);
            if escaped != text {
                needles.push(Zeroizing::new(escaped.into_bytes()));
            }
        }
    };
    add(value, true);
    if value.contains(&b'\n') {
        for line in value.split(|b| *b == b'\n') {
            add(line, false);
        }
    }
}

/// `text` as it appears inside a JSON string (without the quotes).
fn json_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_values_lines_and_json_forms() {
        let mask = Mask::new(["hunter2", "line one\nline two\n}", "q\"uote"]);
        assert_eq!(mask.text("pw=hunter2!"), "pw=********!");
        assert_eq!(mask.text("got line two"), "got ********");
        assert_eq!(
            mask.text("{ } ok"),
            "{ } ok",
            "short lines are not masked alone"
        );
        assert_eq!(mask.text(r#"{"v":"q\"uote"}"#), r#"{"v":"********"}"#);
        assert!(mask.holds(b"xx hunter2 xx"));
        assert!(!mask.holds(b"hunter"));
        assert!(Mask::none().is_empty());
        assert_eq!(Mask::none().text("hunter2"), "hunter2");
        assert!(!format!("{mask:?}").contains("hunter"));
    }

    #[test]
    fn diffs_mask_whole_lines_and_the_old_value_and_say_so() {
        let mask = Mask::new(["newpass"]);
        let diff = "--- /w/app.conf\n+++ /w/app.conf\n@@ -1,3 +1,3 @@\n user = app\n-password = oldpass\n+password = newpass\n port = 1\n";
        assert_eq!(
            mask.diff(diff),
            "--- /w/app.conf\n+++ /w/app.conf\n@@ -1,3 +1,3 @@\n user = app\n-********\n+********\n port = 1\n(berth masked 2 lines that hold secrets)\n"
        );
        let plain = "--- a\n+++ a\n@@ -1 +1 @@\n-x\n+y\n";
        assert_eq!(mask.diff(plain), plain);
    }
}
