//! Diffs of file content for the operator, capped: a diff is output, and a
//! component decides how much content changes.

use berth_sandbox::human_bytes;
use similar::TextDiff;

/// Files larger than this get no diff, only a summary; a changed file of
/// another size is then not even read.
pub(crate) const LIMIT: usize = 256 * 1024;

/// The most lines of a diff that are shown; the rest are summarized as
/// `… N more lines`.
pub const DIFF_LINES: usize = 100;

/// The most bytes of a diff that are shown, counting the lines kept.
pub const DIFF_BYTES: usize = 8 * 1024;

/// The summary of a change to or from a file larger than [`LIMIT`].
pub(crate) fn too_large(old: u64, new: usize) -> String {
    format!(
        "content differs ({} → {}, too large to show a diff)\n",
        human_bytes(old),
        human_bytes(new as u64)
    )
}

/// A unified diff (3 lines of context) of `old` (`None` for a new file) and
/// `new` when both are UTF-8, cut to [`DIFF_LINES`] lines and
/// [`DIFF_BYTES`] bytes; else a one-line summary.
pub(crate) fn diff(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    if new.len() > LIMIT {
        return match old {
            Some(old) => too_large(old.len() as u64, new.len()),
            None => format!(
                "new file ({}, too large to show)\n",
                human_bytes(new.len() as u64)
            ),
        };
    }
    let old_text = match old {
        Some(bytes) => std::str::from_utf8(bytes).ok(),
        None => Some(""),
    };
    match (old_text, std::str::from_utf8(new)) {
        (Some(old_text), Ok(new_text)) => {
            let from = if old.is_some() { path } else { "/dev/null" };
            let full = TextDiff::from_lines(old_text, new_text)
                .unified_diff()
                .context_radius(3)
                .header(from, path)
                .to_string();
            cap(full)
        }
        _ => match old {
            Some(old) => format!(
                "binary file, {} → {}\n",
                human_bytes(old.len() as u64),
                human_bytes(new.len() as u64)
            ),
            None => format!("new binary file, {}\n", human_bytes(new.len() as u64)),
        },
    }
}

/// The first [`DIFF_LINES`] lines of `diff`, within [`DIFF_BYTES`], and a
/// line that counts the rest.
fn cap(diff: String) -> String {
    let mut end = 0;
    for (lines, line) in diff.split_inclusive('\n').enumerate() {
        if lines == DIFF_LINES || end + line.len() > DIFF_BYTES {
            break;
        }
        end += line.len();
    }
    if end == diff.len() {
        return diff;
    }
    let rest = &diff[end..];
    let more = rest.split_inclusive('\n').count();
    let mut out = diff[..end].to_owned();
    out.push_str(&format!(
        "… {more} more line{} ({}) not shown\n",
        if more == 1 { "" } else { "s" },
        human_bytes(rest.len() as u64)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::{DIFF_BYTES, DIFF_LINES, diff};

    #[test]
    fn text_diff_has_headers_and_context() {
        let d = diff(
            "/w/motd",
            Some(b"a\nb\nc\nd\ne\nf\ng\n"),
            b"a\nb\nc\nD\ne\nf\ng\n",
        );
        assert_eq!(
            d,
            "--- /w/motd\n+++ /w/motd\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
        );
    }

    #[test]
    fn new_and_binary_files() {
        assert_eq!(
            diff("/w/x", None, b"hi\n"),
            "--- /dev/null\n+++ /w/x\n@@ -0,0 +1 @@\n+hi\n"
        );
        assert_eq!(
            diff("/w/x", Some(&[0xff, 0]), b"abc"),
            "binary file, 2 bytes → 3 bytes\n"
        );
        let big = vec![0u8; 1_300_000];
        assert_eq!(
            diff("/w/x", Some(&[0xff; 1_250_000]), &big[..200_000]),
            "binary file, 1.2 MiB → 195 KiB\n"
        );
        assert_eq!(diff("/w/x", None, &[0xff]), "new binary file, 1 byte\n");
        assert_eq!(
            diff("/w/x", None, &big),
            "new file (1.2 MiB, too large to show)\n"
        );
    }

    #[test]
    fn long_diffs_are_cut_and_the_rest_counted() {
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        let d = diff("/w/x", None, text.as_bytes());
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines.len(), DIFF_LINES + 1, "{d}");
        assert!(d.len() <= DIFF_BYTES + 100);
        // Three header lines, 97 added lines; 4903 added lines are left.
        assert_eq!(
            lines.last().unwrap(),
            &"… 4903 more lines (51.8 KiB) not shown"
        );
        // Long lines: the byte cap comes first.
        let wide: String = (0..50)
            .map(|i| format!("{i} {}\n", "x".repeat(1000)))
            .collect();
        let d = diff("/w/x", None, wide.as_bytes());
        assert!(d.len() <= DIFF_BYTES + 100, "{}", d.len());
        assert!(d.ends_with(" not shown\n"), "{d}");
    }
}
