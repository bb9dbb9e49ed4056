//! `${section:key}` substitution, buildout style.
//!
//! Every value of every section is substituted, whether or not anything
//! reads it, so a broken reference is reported even in an unused value.
//! The section name is everything before the last colon, so
//! `${host:web:data-port}` is the key `data-port` of `[host:web]`.
//! `$${` stands for a literal `${`. A referenced value is substituted
//! first; a reference back into a value being substituted is a cycle.
//!
//! An environment file is input berth must survive whatever it holds: a
//! chain of references may nest at most [`MAX_DEPTH`] deep, a substituted
//! value may hold at most [`MAX_VALUE`] bytes and all of them together at
//! most [`MAX_TOTAL`], each an error at the line of the reference that
//! passes the limit (a 2.6 KB file of values that each reference the one
//! before twice would otherwise grow to gigabytes).

use crate::error::{ConfigError, Origin, did_you_mean_hint};
use crate::ini::Document;
use crate::suggest::did_you_mean;

/// How deep references may nest: `${a:x}` whose value references `${a:y}`
/// whose value references … at most this many levels.
pub const MAX_DEPTH: usize = 64;

/// The most bytes one substituted value may hold.
pub const MAX_VALUE: usize = 1 << 20;

/// The most bytes all substituted values of an environment may hold.
pub const MAX_TOTAL: usize = 16 << 20;

#[derive(Debug)]
enum State {
    Pending,
    Active,
    Done(Vec<String>),
}

/// Replaces every reference in every value of `doc`.
///
/// Errors (at the line of the reference): an unterminated `${`, a reference
/// without `section:key`, an unknown section or key (with "did you mean"),
/// and cycles (the message lists the chain).
pub(crate) fn substitute(doc: &mut Document) -> Result<(), ConfigError> {
    let mut resolver = Resolver {
        doc,
        state: doc
            .sections
            .iter()
            .map(|s| s.entries.iter().map(|_| State::Pending).collect())
            .collect(),
        stack: Vec::new(),
        total: 0,
    };
    for (s, section) in doc.sections.iter().enumerate() {
        for e in 0..section.entries.len() {
            resolver.resolve(s, e)?;
        }
    }
    let state = resolver.state;
    for (section, states) in doc.sections.iter_mut().zip(state) {
        for (entry, state) in section.entries.iter_mut().zip(states) {
            if let State::Done(texts) = state {
                for (line, text) in entry.lines.iter_mut().zip(texts) {
                    line.text = text;
                }
            }
        }
    }
    Ok(())
}

struct Resolver<'d> {
    doc: &'d Document,
    state: Vec<Vec<State>>,
    /// The entries being substituted, outermost first.
    stack: Vec<(usize, usize)>,
    /// Bytes of the values substituted so far.
    total: usize,
}

impl Resolver<'_> {
    fn name(&self, (s, e): (usize, usize)) -> String {
        let section = &self.doc.sections[s];
        format!("${{{}:{}}}", section.name, section.entries[e].key)
    }

    /// The substituted value of entry `e` of section `s`, lines joined.
    fn resolve(&mut self, s: usize, e: usize) -> Result<String, ConfigError> {
        if let State::Done(lines) = &self.state[s][e] {
            return Ok(lines.join("\n"));
        }
        self.state[s][e] = State::Active;
        self.stack.push((s, e));
        let doc = self.doc;
        let entry = &doc.sections[s].entries[e];
        let mut texts = Vec::with_capacity(entry.lines.len());
        for line in &entry.lines {
            let origin = Origin::new(entry.origin.file.clone(), line.line);
            texts.push(self.substitute_line(&line.text, &origin)?);
        }
        self.stack.pop();
        let joined = texts.join("\n");
        self.total += joined.len();
        if self.total > MAX_TOTAL {
            let origin = Origin::new(entry.origin.file.clone(), entry.origin.line);
            return Err(ConfigError::at(
                &origin,
                format!(
                    "substituting `{}` brings the environment's values past {} MiB in all, the most berth takes",
                    self.name((s, e)),
                    MAX_TOTAL >> 20
                ),
            ));
        }
        self.state[s][e] = State::Done(texts);
        Ok(joined)
    }

    fn substitute_line(&mut self, text: &str, origin: &Origin) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let Some(end) = tail.find('}') else {
                    return Err(
                        ConfigError::at(origin, format!("unterminated `${{` in `{text}`"))
                            .with_hint(
                                "close the reference with `}`, or write `$${` for a literal `${`",
                            ),
                    );
                };
                out.push_str(&self.lookup(&tail[..end], origin)?);
                if out.len() > MAX_VALUE {
                    return Err(ConfigError::at(
                        origin,
                        format!(
                            "substituting `${{{}}}` makes this value larger than {} MiB, the most a value may hold",
                            &tail[..end],
                            MAX_VALUE >> 20
                        ),
                    )
                    .with_hint_opt(self.via()));
                }
                rest = &tail[end + 1..];
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(&mut self, reference: &str, origin: &Origin) -> Result<String, ConfigError> {
        let doc = self.doc;
        let Some((section_name, key)) = reference
            .rsplit_once(':')
            .filter(|(s, k)| !s.trim().is_empty() && !k.trim().is_empty())
        else {
            return Err(ConfigError::at(
                origin,
                format!("invalid reference `${{{reference}}}`; expected `${{section:key}}`"),
            ));
        };
        let (section_name, key) = (section_name.trim(), key.trim());
        let Some(s) = doc.sections.iter().position(|s| s.name == section_name) else {
            let suggestion =
                did_you_mean(section_name, doc.sections.iter().map(|s| s.name.as_str()));
            return Err(ConfigError::at(
                origin,
                format!("unknown section `[{section_name}]` in `${{{reference}}}`"),
            )
            .with_hint_opt(did_you_mean_hint(suggestion).or_else(|| self.via())));
        };
        let section = &doc.sections[s];
        let Some(e) = section.entries.iter().position(|e| e.key == key) else {
            let suggestion = did_you_mean(key, section.entries.iter().map(|e| e.key.as_str()));
            return Err(ConfigError::at(
                origin,
                format!(
                    "unknown key `{key}` in [{section_name}], referenced as `${{{reference}}}`"
                ),
            )
            .with_hint_opt(
                suggestion
                    .map(|k| format!("did you mean `${{{section_name}:{k}}}`?"))
                    .or_else(|| self.via()),
            ));
        };
        if matches!(self.state[s][e], State::Active) {
            let start = self.stack.iter().position(|&p| p == (s, e)).unwrap_or(0);
            let mut chain: Vec<String> =
                self.stack[start..].iter().map(|&p| self.name(p)).collect();
            chain.push(self.name((s, e)));
            let places: Vec<String> = self.stack[start..]
                .iter()
                .map(|&(s, e)| {
                    format!(
                        "{} at {}",
                        self.name((s, e)),
                        doc.sections[s].entries[e].origin
                    )
                })
                .collect();
            return Err(ConfigError::at(
                origin,
                format!("substitution cycle: `{}`", chain.join("` -> `")),
            )
            .with_hint(format!(
                "break the cycle; the values are set as {}",
                places.join(", ")
            )));
        }
        if self.stack.len() >= MAX_DEPTH && !matches!(self.state[s][e], State::Done(_)) {
            return Err(ConfigError::at(
                origin,
                format!(
                    "`${{{reference}}}` nests references more than {MAX_DEPTH} levels deep, the most berth follows"
                ),
            )
            .with_hint(format!(
                "the chain starts at `{}`",
                self.name(self.stack[0])
            )));
        }
        self.resolve(s, e)
    }

    /// "reached through …" for an error inside a referenced value.
    fn via(&self) -> Option<String> {
        (self.stack.len() > 1).then(|| {
            let chain: Vec<String> = self.stack.iter().map(|&p| self.name(p)).collect();
            format!("reached through `{}`", chain.join("` -> `"))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ini::parse;

    fn run(text: &str) -> Result<Document, ConfigError> {
        let mut doc = parse(Path::new("e.cfg"), text)?;
        substitute(&mut doc)?;
        Ok(doc)
    }

    fn value(doc: &Document, section: &str, key: &str) -> String {
        doc.sections
            .iter()
            .find(|s| s.name == section)
            .and_then(|s| s.get(key))
            .map(|e| e.value())
            .unwrap_or_else(|| panic!("no {section}:{key}"))
    }

    fn err(text: &str) -> String {
        match run(text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn substitutes_across_sections_and_forward() {
        let doc = run(
            "[a]\nx = ${b:y}/${host:web:data-port}!\n[b]\ny = ${b:z}\nz = deep\n[host:web]\ndata-port = 80\n",
        )
        .unwrap();
        assert_eq!(value(&doc, "a", "x"), "deep/80!");
    }

    #[test]
    fn escapes_and_lone_dollars() {
        let doc = run("[a]\nx = $${a:y} costs $5 and $$ ${a:y}\ny = 1\n").unwrap();
        assert_eq!(value(&doc, "a", "x"), "${a:y} costs $5 and $$ 1");
    }

    #[test]
    fn multi_line_values_substitute_per_line() {
        let doc = run("[a]\nx =\n  ${a:y}\n  end\ny = one\n  two\n").unwrap();
        let x = &doc.sections[0].entries[0];
        assert_eq!(x.value(), "one\ntwo\nend");
        assert_eq!(x.lines[0].line, 3);
        assert_eq!(x.lines[0].text, "one\ntwo");
        assert_eq!(x.lines[1].line, 4);
    }

    #[test]
    fn unknown_section_with_suggestion() {
        assert_eq!(
            err("[environment]\nhost_domain = x\n[a]\nk =\n  v\n  ${enviroment:host_domain}\n"),
            "e.cfg:6: unknown section `[enviroment]` in `${enviroment:host_domain}`\n  hint: did you mean `environment`?"
        );
    }

    #[test]
    fn unknown_key_with_suggestion() {
        assert_eq!(
            err("[environment]\nhost_domain = x\nb = ${environment:host_domian}\n"),
            "e.cfg:3: unknown key `host_domian` in [environment], referenced as `${environment:host_domian}`\n  hint: did you mean `${environment:host_domain}`?"
        );
    }

    #[test]
    fn unknown_key_through_a_chain() {
        assert_eq!(
            err("[a]\nx = ${a:y}\ny = ${a:nothing}\n"),
            "e.cfg:3: unknown key `nothing` in [a], referenced as `${a:nothing}`\n  hint: reached through `${a:x}` -> `${a:y}`"
        );
    }

    #[test]
    fn cycle_names_the_chain() {
        assert_eq!(
            err("[a]\nx = ${a:y}\ny = ${b:z}\n[b]\nz = ${a:x}\n"),
            "e.cfg:5: substitution cycle: `${a:x}` -> `${a:y}` -> `${b:z}` -> `${a:x}`\n  hint: break the cycle; the values are set as ${a:x} at e.cfg:2, ${a:y} at e.cfg:3, ${b:z} at e.cfg:5"
        );
        assert!(
            err("[a]\nx = ${a:x}\n")
                .starts_with("e.cfg:2: substitution cycle: `${a:x}` -> `${a:x}`")
        );
    }

    #[test]
    fn a_deep_chain_is_refused_at_the_reference_that_passes_the_limit() {
        // `k0` references `k1`, which references `k2`, ... 10,000 deep:
        // recursion that would overflow the stack.
        let mut text = String::from("[a]\n");
        for i in 0..10_000 {
            text.push_str(&format!("k{i} = ${{a:k{}}}\n", i + 1));
        }
        text.push_str("k10000 = end\n");
        let e = err(&text);
        assert_eq!(
            e,
            "e.cfg:65: `${a:k64}` nests references more than 64 levels deep, the most berth follows\n  hint: the chain starts at `${a:k0}`"
        );
        // At the limit it substitutes.
        let mut text = String::from("[a]\n");
        for i in 0..63 {
            text.push_str(&format!("k{i} = ${{a:k{}}}\n", i + 1));
        }
        text.push_str("k63 = end\n");
        assert_eq!(value(&run(&text).unwrap(), "a", "k0"), "end");
    }

    #[test]
    fn doubling_values_are_refused_at_their_line() {
        // Each value is the one before, twice: 2^30 times the first.
        let mut text = String::from("[a]\nk0 = 0123456789abcdef\n");
        for i in 1..=30 {
            text.push_str(&format!("k{i} = ${{a:k{}}}${{a:k{}}}\n", i - 1, i - 1));
        }
        let start = std::time::Instant::now();
        let e = err(&text);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // 16 bytes × 2^16 = 1 MiB; the 17th doubling passes the limit.
        assert!(
            e.starts_with("e.cfg:19: substituting `${a:k16}` makes this value larger than 1 MiB, the most a value may hold"),
            "{e}"
        );
        // Many values just under the limit pass the limit of them all.
        let big = "x".repeat(1000);
        let mut text = format!("[a]\nb0 = {big}\n");
        for i in 1..=10 {
            text.push_str(&format!("b{i} = ${{a:b{}}}${{a:b{}}}\n", i - 1, i - 1));
        }
        for i in 0..40 {
            text.push_str(&format!("c{i} = ${{a:b10}}\n"));
        }
        let e = err(&text);
        assert!(
            e.contains("past 16 MiB in all, the most berth takes"),
            "{e}"
        );
    }

    #[test]
    fn malformed_references() {
        assert!(
            err("[a]\nx = ${a:y\ny = 1\n").starts_with("e.cfg:2: unterminated `${` in `${a:y`")
        );
        assert!(
            err("[a]\nx = ${y}\n")
                .starts_with("e.cfg:2: invalid reference `${y}`; expected `${section:key}`")
        );
        assert!(err("[a]\nx = ${a:}\n").starts_with("e.cfg:2: invalid reference"));
    }
}
