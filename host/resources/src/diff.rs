//! Diffs of file content for the operator.

use similar::TextDiff;

/// Files larger than this get no diff, only a summary; a changed file of
/// another size is then not even read.
pub(crate) const LIMIT: usize = 256 * 1024;

/// The summary of a change to or from a file larger than [`LIMIT`].
pub(crate) fn too_large(old: u64, new: usize) -> String {
    format!("content differs ({old} → {new} bytes, too large to show a diff)\n")
}

/// A unified diff (3 lines of context) of `old` (`None` for a new file) and
/// `new` when both are UTF-8, else a one-line summary.
pub(crate) fn diff(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    if new.len() > LIMIT {
        return match old {
            Some(old) => too_large(old.len() as u64, new.len()),
            None => format!("new file ({} bytes, too large to show)\n", new.len()),
        };
    }
    let old_text = match old {
        Some(bytes) => std::str::from_utf8(bytes).ok(),
        None => Some(""),
    };
    match (old_text, std::str::from_utf8(new)) {
        (Some(old_text), Ok(new_text)) => {
            let from = if old.is_some() { path } else { "/dev/null" };
            TextDiff::from_lines(old_text, new_text)
                .unified_diff()
                .context_radius(3)
                .header(from, path)
                .to_string()
        }
        _ => match old {
            Some(old) => format!(
                "binary content differs ({} → {} bytes)\n",
                old.len(),
                new.len()
            ),
            None => format!("new binary file ({} bytes)\n", new.len()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::diff;

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
            "binary content differs (2 → 3 bytes)\n"
        );
    }
}
