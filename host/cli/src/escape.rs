//! Escaping of text that components supply, for the human reporter.
//!
//! Step labels, verify reasons, log lines, errors and diffs come from
//! components nobody has to trust. Printed raw, a control character could
//! forge output lines (`localhost/x up to date`), move the cursor, retitle
//! or clear the terminal. Here every control character (C0, DEL, C1) and
//! every bidirectional override is shown as a Rust-style escape (`\n`,
//! `\u{1b}`, `\u{202e}`); text that may span lines (errors, diffs) keeps its
//! line breaks, and is printed indented below its step. JSON output is not escaped: serde writes it exactly.

use std::borrow::Cow;

use berth_engine::event::{Event, Outcome};

/// The event with every component-supplied text escaped; borrowed when
/// nothing needed escaping.
pub(crate) fn event(event: &Event) -> Cow<'_, Event> {
    let mut owned = event.clone();
    let changed = match &mut owned {
        Event::Step { label, outcome, .. } => {
            let mut changed = in_place(label, line);
            match outcome {
                Outcome::Unchanged => {}
                Outcome::Changed { reason, diff } | Outcome::WouldChange { reason, diff } => {
                    changed |= in_place(reason, line);
                    if let Some(diff) = diff {
                        changed |= in_place(diff, text);
                    }
                }
                Outcome::Failed { error } => changed |= in_place(error, text),
            }
            changed
        }
        Event::Log { message, .. } => in_place(message, line),
        Event::ComponentFailed { error, .. } => in_place(error, text),
        Event::Warning { message, hint } => {
            let mut changed = in_place(message, text);
            if let Some(hint) = hint {
                changed |= in_place(hint, text);
            }
            changed
        }
        // One line per failure: a failure starts with the step's label, and
        // the recap must not show lines a component made up.
        Event::Summary(summary) => summary
            .failures
            .iter_mut()
            .fold(false, |changed, f| in_place(f, line) | changed),
        _ => false,
    };
    if changed {
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(event)
    }
}

fn in_place(s: &mut String, escape: fn(&str) -> Cow<'_, str>) -> bool {
    match escape(s) {
        Cow::Borrowed(_) => false,
        Cow::Owned(escaped) => {
            *s = escaped;
            true
        }
    }
}

/// One line: every control character escaped, line breaks included.
pub(crate) fn line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Text of several lines: control characters escaped, `\n` kept.
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && !(keep_newlines && c == '\n')) || is_bidi(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bidirectional embeddings, overrides and isolates: they reorder what the
/// terminal shows.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(line("file motd → x"), Cow::Borrowed(_)));
        assert_eq!(
            line("x\n  localhost/y up to date\u{1b}]0;owned\u{7}\u{1b}[2J\r"),
            "x\\n  localhost/y up to date\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\r"
        );
        assert_eq!(text("a\nb\u{1b}[31m\t"), "a\nb\\u{1b}[31m\\t");
        assert_eq!(line("abc\u{202e}def\u{9b}"), "abc\\u{202e}def\\u{9b}");
    }

    #[test]
    fn an_event_is_escaped_where_a_component_wrote_it() {
        let step = Event::Step {
            host: "localhost".into(),
            component: "probe".into(),
            index: 0,
            label: "a\nlocalhost/x up to date".into(),
            outcome: Outcome::Failed {
                error: "line one\nline \u{1b}[2J two".into(),
            },
        };
        let Event::Step { label, outcome, .. } = event(&step).into_owned() else {
            panic!("not a step");
        };
        assert_eq!(label, "a\\nlocalhost/x up to date");
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "line one\nline \\u{1b}[2J two".into()
            }
        );
    }
}
