//! The console examples of `README.md` and `docs/*.md`, run against the
//! real binary: a changed message fails here, not in a reader's terminal.
//!
//! Every ```` ```console ```` block is a session: lines starting with `$ `
//! are commands (run with bash in a fresh copy of this repository's
//! examples, `berth` on the `PATH`), the lines after one are what it prints
//! (standard output, then standard error). In the expected text:
//!
//! - durations (`47 ms`, `2.4 s`, `1 min 02 s`) match any duration;
//! - `…` inside a line matches any text on that line; a line that is only
//!   `…` (indentation aside) matches any number of lines.
//!
//! An HTML comment right above a block sets it up:
//! `<!-- example: FIXTURE; setup: COMMAND -->`, where FIXTURE is
//! `examples` (the default: this repository's components, prebuilt, and
//! its `environments/`), `packages` (a repository that uses `hello` as a
//! package through `packages.cfg`) or `empty` (an empty folder), and
//! COMMAND runs quietly first (`;`-separated, as many as needed).
//! `<!-- example: skip REASON -->` leaves a block out; the reason is
//! printed.
//!
//! `BERTH_BLESS_DOCS=1 cargo test -p berth --test cli -- docs::` writes
//! what the binary prints into the documents instead; review the diff and
//! put the `…` back where the text should stay short.

use berth_tests::{APP, CHECKSUMS, DATABASE, HELLO, MOTD, TestRepo};
use std::path::{Path, PathBuf};
use std::process::Command;

const DOCUMENTS: &[&str] = &[
    "README.md",
    "docs/cli.md",
    "docs/components.md",
    "docs/environments.md",
    "docs/events.md",
    "docs/packages.md",
    "docs/sandbox.md",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One console block of a document.
#[derive(Debug)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    /// The fixture and setup commands, or why it is skipped.
    directive: Directive,
    /// Its commands, each with the output it shows.
    commands: Vec<(String, Vec<String>)>,
    /// The byte range of its body (between the fences).
    body: std::ops::Range<usize>,
}

#[derive(Debug, Default)]
struct Directive {
    fixture: String,
    setup: Vec<String>,
    skip: Option<String>,
}

fn directive(comment: Option<&str>) -> Directive {
    let mut d = Directive {
        fixture: "examples".to_owned(),
        ..Directive::default()
    };
    let Some(text) = comment else { return d };
    for part in text.split(';').map(str::trim) {
        if let Some(reason) = part.strip_prefix("skip") {
            d.skip = Some(reason.trim().to_owned());
        } else if let Some(command) = part.strip_prefix("setup:") {
            d.setup.push(command.trim().to_owned());
        } else if !part.is_empty() {
            d.fixture = part.to_owned();
        }
    }
    d
}

fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut offset = 0;
    let mut previous: Option<&str> = None;
    let mut open: Option<(usize, usize, Option<String>)> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        match &open {
            None if trimmed == "```console" => {
                let comment = previous
                    .and_then(|p| p.trim().strip_prefix("<!-- example:"))
                    .and_then(|p| p.strip_suffix("-->"))
                    .map(str::to_owned);
                open = Some((i + 1, offset + line.len(), comment));
            }
            Some((start_line, start, comment)) if trimmed == "```" => {
                let body = *start..offset;
                let mut commands: Vec<(String, Vec<String>)> = Vec::new();
                for l in text[body.clone()].lines() {
                    match l.strip_prefix("$ ") {
                        Some(command) => commands.push((command.to_owned(), Vec::new())),
                        None => {
                            if let Some((_, out)) = commands.last_mut() {
                                out.push(l.to_owned());
                            }
                        }
                    }
                }
                blocks.push(Block {
                    line: *start_line,
                    directive: directive(comment.as_deref()),
                    commands,
                    body,
                });
                open = None;
            }
            _ => {}
        }
        if !trimmed.is_empty() {
            previous = Some(line);
        }
        offset += line.len();
    }
    blocks
}

/// A repository for a block.
fn fixture(name: &str) -> TestRepo {
    let repo = TestRepo::new();
    match name {
        "empty" => {
            std::fs::remove_dir_all(repo.join("environments")).unwrap();
            std::fs::remove_dir_all(repo.join("components")).unwrap();
        }
        "examples" => examples(&repo),
        "packages" => {
            let author = TestRepo::new();
            author.example("hello", HELLO);
            let run = berth_in(author.path(), "berth package hello");
            assert!(run.0, "{}", run.1);
            repo.write("packages.cfg", "[packages]\nfind-links = packages/\n");
            std::fs::create_dir_all(repo.join("packages")).unwrap();
            std::fs::copy(
                author.join("dist/hello-0.1.0.wasm"),
                repo.join("packages/hello-0.1.0.wasm"),
            )
            .unwrap();
            repo.env("local", "[hosts]\nlocalhost = hello\n");
        }
        other => panic!("unknown example fixture `{other}`"),
    }
    repo
}

/// This repository's example components (prebuilt by tests/build.rs) and
/// its environments, as they are.
fn examples(repo: &TestRepo) {
    for (name, wasm) in [
        ("hello", HELLO),
        ("motd", MOTD),
        ("checksums", CHECKSUMS),
        ("database", DATABASE),
        ("app", APP),
    ] {
        repo.example(name, wasm);
    }
    // A Python package is its sources: nothing is built for it.
    copy_tree(
        &berth_tests::component_dir("greeter"),
        &repo.join("components/greeter"),
    );
    copy_tree(&root().join("environments"), &repo.join("environments"));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == "__pycache__" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

/// Runs `command` with bash in `dir`, `berth` on the `PATH`: whether it
/// exited 0, and its standard output followed by its standard error.
fn berth_in(dir: &Path, command: &str) -> (bool, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_berth")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_owned()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let run = Command::new("bash")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("BERTH_CACHE_DIR", berth_tests::cache_dir())
        .env_remove("BERTH_LOG")
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let mut out = String::from_utf8_lossy(&run.stdout).into_owned();
    out.push_str(&String::from_utf8_lossy(&run.stderr));
    // The temporary folder is nobody's business in an example.
    let shown = out.replace(&format!("{}/", dir.display()), "/…/");
    (run.status.success(), shown)
}

/// Durations as `[TIME]`, so that examples can show real ones.
fn without_times(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let rest = |i: usize| chars[i..].iter().collect::<String>();
    while i < chars.len() {
        let boundary = i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '.';
        if boundary && chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let tail = rest(j);
            let unit = [" min ", " ms", " µs", " s"]
                .into_iter()
                .find(|u| tail.starts_with(u));
            if let Some(unit) = unit {
                let mut end = j + unit.chars().count();
                if unit == " min " {
                    // `1 min 02 s`
                    while end < chars.len() && chars[end].is_ascii_digit() {
                        end += 1;
                    }
                    if rest(end).starts_with(" s") {
                        end += 2;
                    }
                }
                if end >= chars.len() || !chars[end].is_alphanumeric() {
                    out.push_str("[TIME]");
                    i = end;
                    continue;
                }
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Whether `actual` matches `pattern`, where `…` matches any text.
fn line_matches(pattern: &str, actual: &str) -> bool {
    let (pattern, actual) = (without_times(pattern), without_times(actual));
    let mut parts = pattern.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (k, part) in parts.iter().enumerate() {
        if k + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether the lines of `actual` match `expected`; a line `…` matches any
/// number of lines.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "…" => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(first, a) && matches(rest, more)),
    }
}

#[test]
fn every_console_example_in_the_docs_is_what_berth_prints() {
    let bless = std::env::var_os("BERTH_BLESS_DOCS").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    for document in DOCUMENTS {
        let path = root().join(document);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut blessed = text.clone();
        for block in blocks(&text).iter().rev() {
            if let Some(reason) = &block.directive.skip {
                assert!(
                    !reason.is_empty(),
                    "{document}:{}: say why the example is skipped",
                    block.line
                );
                eprintln!("{document}:{}: skipped: {reason}", block.line);
                continue;
            }
            let repo = fixture(&block.directive.fixture);
            for setup in &block.directive.setup {
                let (ok, out) = berth_in(repo.path(), setup);
                assert!(
                    ok,
                    "{document}:{}: setup `{setup}` failed:\n{out}",
                    block.line
                );
            }
            let mut body = String::new();
            for (command, expected) in &block.commands {
                let (_, out) = berth_in(repo.path(), command);
                let actual: Vec<&str> = out.lines().collect();
                body.push_str(&format!("$ {command}\n{out}"));
                if !out.ends_with('\n') && !out.is_empty() {
                    body.push('\n');
                }
                checked += 1;
                if !matches(expected, &actual) {
                    failures.push(format!(
                        "{document}:{}: `{command}` printed\n{out}\nbut the example shows\n{}\n",
                        block.line,
                        expected.join("\n")
                    ));
                }
            }
            blessed.replace_range(block.body.clone(), &body);
        }
        if bless && blessed != text {
            std::fs::write(&path, blessed).unwrap();
        }
    }
    assert!(checked >= 8, "only {checked} commands were checked");
    assert!(
        failures.is_empty() || bless,
        "{} console example(s) differ from the binary (BERTH_BLESS_DOCS=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_example_matcher_takes_times_and_ellipses() {
    assert!(line_matches(
        "deployed local: 1 changed in 47 ms",
        "deployed local: 1 changed in 2.4 s"
    ));
    assert!(line_matches("  (1 min 02 s)", "  (38 ms)"));
    assert!(!line_matches("version 0.1.0", "version 0.2.0"));
    assert!(line_matches("sha256 7d89c13b…", "sha256 7d89c13bffff"));
    assert!(line_matches("a … c", "a b b c"));
    assert!(!line_matches("a … c", "a b b d"));
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(matches(&lines("a\n  …\nd"), &["a", "b", "c", "d"]));
    assert!(matches(&lines("a\n…"), &["a"]));
    assert!(!matches(&lines("a\nb"), &["a", "b", "c"]));
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped but `-`
/// and `_`, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_to_a_heading_finds_it() {
    let mut broken = Vec::new();
    for document in DOCUMENTS {
        let dir = Path::new(document).parent().unwrap();
        let text = std::fs::read_to_string(root().join(document)).unwrap();
        for (i, _) in text.match_indices("](") {
            let target = &text[i + 2..];
            let Some(end) = target.find(')') else {
                continue;
            };
            let Some((file, anchor)) = target[..end].split_once('#') else {
                continue;
            };
            if file.contains("://") {
                continue;
            }
            let linked = if file.is_empty() {
                root().join(document)
            } else {
                root().join(dir).join(file)
            };
            let Ok(linked_text) = std::fs::read_to_string(&linked) else {
                broken.push(format!("{document}: `{file}` does not exist"));
                continue;
            };
            let found = linked_text
                .lines()
                .filter_map(|l| {
                    l.trim_start_matches('#')
                        .strip_prefix(' ')
                        .filter(|_| l.starts_with('#'))
                })
                .any(|h| slug(h) == anchor);
            if !found {
                broken.push(format!("{document}: no heading for `{file}#{anchor}`"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
