//! The reporters: the only code that writes to the terminal.
//!
//! The human reporter prints a run the way a batou or Ansible user expects
//! it: a header per phase (`loading`, `configuring`, `deploying`), one block
//! per component with its duration (its lines are held until it finishes,
//! so parallel hosts never interleave), and a recap table per host at the
//! end. While components build, a terminal shows one live line (component,
//! phase, elapsed time) that is cleared when the build ends; on a pipe
//! nothing of it is written.

use crate::cli::{ColorWhen, Format};
use berth_engine::event::{Event, Outcome, Reporter, Summary};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The global output settings: `--color` and `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--color`.
    pub color: ColorWhen,
    /// `--quiet`: only warnings, failures and errors.
    pub quiet: bool,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// Sets the output settings once, before any reporter is made.
pub fn configure(output: Output) {
    let _ = OUTPUT.set(output);
}

fn output() -> Output {
    OUTPUT.get().copied().unwrap_or(Output {
        color: ColorWhen::Auto,
        quiet: false,
    })
}

/// Whether to color a stream: `--color always|never` decides; with `auto`,
/// `CLICOLOR_FORCE` (set and not `0`) forces color, `NO_COLOR` (set and not
/// empty) turns it off, else a terminal gets color.
fn use_color(terminal: bool) -> bool {
    let set = |name: &str, off: &str| std::env::var_os(name).is_some_and(|v| v != off);
    match output().color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto if set("CLICOLOR_FORCE", "0") => true,
        ColorWhen::Auto if set("NO_COLOR", "") => false,
        ColorWhen::Auto => terminal,
    }
}

/// The reporter for a format.
pub fn reporter(format: Format, debug: bool) -> Arc<dyn Reporter> {
    match format {
        Format::Human => Arc::new(Human::new(debug, output().quiet)),
        Format::Json => Arc::new(Json),
    }
}

/// Prints an error that stopped the command, with its causes, once.
pub fn error(error: &anyhow::Error) {
    let style = Style::new(use_color(std::io::stderr().is_terminal()));
    let mut out = std::io::stderr().lock();
    let text = |e: &dyn std::fmt::Display| crate::escape::text(&e.to_string()).into_owned();
    // An environment file's error shows its line, with carets under what
    // is wrong, between the message and the hint.
    let config = match error.downcast_ref::<berth_engine::EngineError>() {
        Some(berth_engine::EngineError::Config(c)) => Some(c),
        _ => error.downcast_ref::<berth_config::ConfigError>(),
    };
    if let Some(c) = config
        && let Some(origin) = c.origin()
        && let Some(snippet) = berth_config::snippet(&origin.file, origin.line, &c.message)
    {
        let _ = writeln!(
            out,
            "{}: {origin}: {}\n{snippet}",
            style.red("error"),
            text(&c.message)
        );
        if let Some(hint) = &c.hint {
            let _ = writeln!(out, "  hint: {}", text(hint));
        }
        return;
    }
    let _ = writeln!(out, "{}: {}", style.red("error"), text(error));
    for cause in error.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {}", text(cause));
    }
}

/// The JSON form of an error that stopped a deployment.
pub fn json_error(error: &anyhow::Error) {
    let causes: Vec<String> = error.chain().skip(1).map(|c| c.to_string()).collect();
    let line = serde_json::json!({
        "event": "error",
        "message": error.to_string(),
        "causes": causes,
    });
    println!("{line}");
}

/// `path` relative to `root` when inside it, for shorter output.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A duration the way people say it: `850 µs`, `47 ms`, `2.4 s`,
/// `1 min 02 s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{} µs", d.as_micros())
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 60_000.0 {
        format!("{:.0} s", ms / 1000.0)
    } else {
        let s = d.as_secs();
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

fn millis(ms: f64) -> Duration {
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

/// One JSON object per line on stdout.
struct Json;

impl Reporter for Json {
    fn report(&self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    }
}

#[derive(Clone, Copy)]
struct Style {
    color: bool,
}

impl Style {
    fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// A diff, indented, with the paths of its headers relative to `cwd`.
    fn diff(&self, diff: &str, cwd: Option<&Path>) -> String {
        diff.lines()
            .map(|line| {
                let painted = if let Some((mark, path)) = header(line) {
                    self.bold(&format!("{mark} {}", shown(path, cwd)))
                } else if line.starts_with('+') {
                    self.green(line)
                } else if line.starts_with('-') {
                    self.red(line)
                } else if line.starts_with("@@") {
                    self.cyan(line)
                } else {
                    line.to_string()
                };
                format!("      {painted}\n")
            })
            .collect()
    }
}

/// A diff's `--- PATH` or `+++ PATH` line, split.
fn header(line: &str) -> Option<(&str, &str)> {
    ["---", "+++"]
        .into_iter()
        .find_map(|mark| Some((mark, line.strip_prefix(mark)?.strip_prefix(' ')?)))
}

/// An absolute path inside `cwd` as relative to it; anything else as is.
fn shown(path: &str, cwd: Option<&Path>) -> String {
    match cwd.and_then(|cwd| Path::new(path).strip_prefix(cwd).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.to_owned(),
    }
}

/// Readable output: phase headers, one block per component, failures in
/// full, a recap per host and a summary.
struct Human {
    debug: bool,
    quiet: bool,
    style: Style,
    /// Whether stdout is a terminal, where the live build line is drawn.
    live: bool,
    /// Paths in diff headers are shown relative to it.
    cwd: Option<PathBuf>,
    state: Mutex<HumanState>,
}

#[derive(Default)]
struct HumanState {
    /// The live line shown on a terminal while components build.
    progress: Option<indicatif::ProgressBar>,
    /// The build under way: what, with which tool, since when.
    build: Option<(String, String, Instant)>,
    /// The current phase and when it began.
    phase: Option<(String, Instant)>,
    /// Packages loaded in this phase: count, from the cache, total time.
    loaded: (usize, usize, f64),
    /// Components deploying, by `host/component`.
    running: BTreeMap<String, Pending>,
    /// The recap, per host in the order the environment lists them.
    hosts: Vec<(String, Recap)>,
    /// A predict run.
    predict: bool,
}

/// A component's block while it deploys.
struct Pending {
    start: Instant,
    lines: String,
    failed_step: bool,
}

/// One host's row of the recap table.
#[derive(Default, Clone)]
struct Recap {
    changed: usize,
    unchanged: usize,
    failed: usize,
    skipped: usize,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl HumanState {
    fn host(&mut self, name: &str) -> &mut Recap {
        let i = match self.hosts.iter().position(|(h, _)| h == name) {
            Some(i) => i,
            None => {
                self.hosts.push((name.to_owned(), Recap::default()));
                self.hosts.len() - 1
            }
        };
        &mut self.hosts[i].1
    }
}

impl Human {
    fn new(debug: bool, quiet: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        Self {
            debug,
            quiet,
            style: Style::new(use_color(terminal)),
            live: terminal && !quiet,
            cwd: std::env::current_dir().ok(),
            state: Mutex::new(HumanState::default()),
        }
    }

    /// A build begins: on a terminal (and not with `--debug`, which prints
    /// the compiler's lines), one live line on stdout — the stream the rest
    /// of the output goes to, so nothing else can write between its redraws.
    fn start_build(&self, state: &mut HumanState, what: String, tool: String) {
        if self.live && !self.debug {
            // Cleared even when dropped, as when a build fails.
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stdout(),
            )
            .with_finish(indicatif::ProgressFinish::AndClear);
            let style = indicatif::ProgressStyle::with_template(
                "  {spinner} building {prefix} {wide_msg} {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(what.clone());
            bar.set_message(format!("({tool}: starting)"));
            bar.enable_steady_tick(Duration::from_millis(120));
            state.progress = Some(bar);
        }
        state.build = Some((what, tool, Instant::now()));
    }

    /// The build ends: the live line goes; when it succeeded (`took`), a
    /// line says what was built and how long it took.
    fn end_build(&self, state: &mut HumanState, took: Option<Duration>) -> Option<String> {
        if let Some(bar) = state.progress.take() {
            bar.finish_and_clear();
        }
        let (what, tool, _) = state.build.take()?;
        let took = took.filter(|_| !self.quiet)?;
        Some(format!(
            "  built {what} with {tool} {}\n",
            self.style.dim(&format!("in {}", duration(took)))
        ))
    }

    /// A new phase: the loads of the one before are summed up.
    fn phase(&self, state: &mut HumanState, name: &str) -> String {
        let mut out = self.end_phase(state);
        state.phase = Some((name.to_owned(), Instant::now()));
        if !self.quiet {
            out.push_str(&format!("{}\n", self.style.bold(name)));
        }
        out
    }

    fn end_phase(&self, state: &mut HumanState) -> String {
        let s = &self.style;
        let (count, cached, ms) = std::mem::take(&mut state.loaded);
        let Some((name, start)) = state.phase.take() else {
            return String::new();
        };
        if self.quiet {
            return String::new();
        }
        match name.as_str() {
            "loading" if count > 0 => format!(
                "  loaded {count} component{} {}\n",
                plural(count),
                s.dim(&format!(
                    "in {}, {cached} from the compile cache",
                    duration(millis(ms))
                ))
            ),
            "configuring" => format!(
                "  configured {}\n",
                s.dim(&format!("in {}", duration(start.elapsed())))
            ),
            _ => String::new(),
        }
    }

    /// A step's line(s), or nothing.
    fn step(&self, label: &str, outcome: &Outcome) -> Option<String> {
        let s = &self.style;
        let cwd = self.cwd.as_deref();
        Some(match outcome {
            Outcome::Unchanged if self.debug => format!("    {} {label}\n", s.dim("unchanged")),
            Outcome::Unchanged => return None,
            Outcome::Changed { reason, diff } => format!(
                "    {} {label} {}\n{}",
                s.green("changed"),
                s.dim(&format!("({reason})")),
                diff.as_deref().map(|d| s.diff(d, cwd)).unwrap_or_default()
            ),
            Outcome::WouldChange { reason, diff } => format!(
                "    {} {label} {}\n{}",
                s.yellow("would change"),
                s.dim(&format!("({reason})")),
                diff.as_deref().map(|d| s.diff(d, cwd)).unwrap_or_default()
            ),
            Outcome::Failed { error } => {
                format!("    {} {label}\n{}", s.red("failed"), indent(error, 6))
            }
        })
    }

    fn log(&self, level: &str, message: &str) -> Option<String> {
        let s = &self.style;
        Some(match level {
            "error" => format!("    {} {message}\n", s.red("error:")),
            "warn" => format!("    {} {message}\n", s.yellow("warning:")),
            "info" => format!("    {message}\n"),
            _ if self.debug => format!("    {}\n", s.dim(message)),
            _ => return None,
        })
    }

    /// Everything but the live line and the component blocks.
    fn render(&self, state: &mut HumanState, event: &Event) -> Option<String> {
        let s = &self.style;
        Some(match event {
            Event::Started {
                environment,
                predict,
                hosts,
            } => {
                state.predict = *predict;
                for h in hosts {
                    state.host(h);
                }
                if self.quiet {
                    return None;
                }
                format!(
                    "{} {} {}\n",
                    s.bold(if *predict { "predicting" } else { "deploying" }),
                    s.bold(environment),
                    s.dim(&format!("({} host{})", hosts.len(), plural(hosts.len())))
                )
            }
            Event::Phase { name } => self.phase(state, name),
            Event::BuildOutput { line } if self.debug => format!("    {}\n", s.dim(line)),
            Event::Loaded {
                package,
                cached,
                millis,
                ..
            } => {
                state.loaded.0 += 1;
                state.loaded.1 += usize::from(*cached);
                state.loaded.2 += millis;
                if !self.debug {
                    return None;
                }
                format!(
                    "  {} {package} in {millis:.1} ms{}\n",
                    s.dim("loaded"),
                    if *cached { " (cached)" } else { " (compiled)" }
                )
            }
            Event::Planned { order } if self.debug => {
                format!("  {} {}\n", s.dim("order:"), order.join(" → "))
            }
            Event::Warning { message, hint } => format!(
                "{} {message}\n{}",
                s.yellow("warning:"),
                hint.as_deref().map(|h| indent(h, 2)).unwrap_or_default()
            ),
            Event::Summary(summary) => {
                let mut out = self.end_phase(state);
                if !self.quiet {
                    out.push_str(&self.recap(state, summary.predict));
                }
                out.push_str(&self.summary(summary));
                out
            }
            _ => return None,
        })
    }

    /// The component events: their lines are held until it finishes.
    fn component(&self, state: &mut HumanState, event: &Event) -> Option<String> {
        let s = &self.style;
        let now = Instant::now();
        match event {
            Event::ComponentStarted { host, component } => {
                let recap = state.host(host);
                recap.first.get_or_insert(now);
                state.running.insert(
                    format!("{host}/{component}"),
                    Pending {
                        start: now,
                        lines: String::new(),
                        failed_step: false,
                    },
                );
                None
            }
            Event::Step {
                host,
                component,
                label,
                outcome,
                ..
            } => {
                let recap = state.host(host);
                match outcome {
                    Outcome::Unchanged => recap.unchanged += 1,
                    Outcome::Changed { .. } | Outcome::WouldChange { .. } => recap.changed += 1,
                    Outcome::Failed { .. } => recap.failed += 1,
                }
                let text = self.step(label, outcome);
                let pending = state.running.get_mut(&format!("{host}/{component}"))?;
                pending.failed_step |= matches!(outcome, Outcome::Failed { .. });
                pending.lines.push_str(&text?);
                None
            }
            Event::Log {
                host,
                component,
                level,
                message,
            } => {
                let text = self.log(level, message)?;
                match state.running.get_mut(&format!("{host}/{component}")) {
                    Some(pending) => {
                        pending.lines.push_str(&text);
                        None
                    }
                    // Configure logs come before any component deploys.
                    None if self.quiet && !matches!(level.as_str(), "warn" | "error") => None,
                    None => Some(format!(
                        "  {}\n{text}",
                        s.bold(&format!("{host}/{component}"))
                    )),
                }
            }
            Event::ComponentFinished {
                host,
                component,
                changed,
                failed,
            } => {
                let id = format!("{host}/{component}");
                let pending = state.running.remove(&id)?;
                let recap = state.host(host);
                recap.last = Some(now);
                if *failed && !pending.failed_step {
                    recap.failed += 1;
                }
                if self.quiet && !failed {
                    return None;
                }
                let status = if *failed {
                    s.red("failed")
                } else if *changed == 0 {
                    s.dim("up to date")
                } else if state.predict {
                    s.yellow(&format!("{changed} would change"))
                } else {
                    s.green(&format!("{changed} changed"))
                };
                Some(format!(
                    "  {} {status} {}\n{}",
                    s.bold(&id),
                    s.dim(&format!("({})", duration(now - pending.start))),
                    pending.lines
                ))
            }
            Event::ComponentFailed {
                host,
                component,
                error,
            } => {
                let id = format!("{host}/{component}");
                let lines = state.running.remove(&id).map(|p| p.lines);
                let recap = state.host(host);
                recap.failed += 1;
                recap.last = Some(now);
                Some(format!(
                    "  {} {}\n{}{}",
                    s.bold(&id),
                    s.red("failed"),
                    lines.unwrap_or_default(),
                    indent(error, 4)
                ))
            }
            Event::ComponentSkipped {
                host,
                component,
                because,
            } => {
                state.host(host).skipped += 1;
                Some(format!(
                    "  {} {}\n",
                    s.bold(&format!("{host}/{component}")),
                    s.yellow(&format!("skipped: `{because}` failed"))
                ))
            }
            _ => None,
        }
    }

    /// The recap table: one row per host.
    fn recap(&self, state: &HumanState, predict: bool) -> String {
        let s = &self.style;
        if state.hosts.is_empty() {
            return String::new();
        }
        let changed = if predict { "would change" } else { "changed" };
        let head = ["host", changed, "unchanged", "failed", "skipped", "time"];
        let rows: Vec<[String; 6]> = state
            .hosts
            .iter()
            .map(|(host, r)| {
                let time = match (r.first, r.last) {
                    (Some(first), Some(last)) => duration(last - first),
                    _ => "-".to_owned(),
                };
                [
                    host.clone(),
                    r.changed.to_string(),
                    r.unchanged.to_string(),
                    r.failed.to_string(),
                    r.skipped.to_string(),
                    time,
                ]
            })
            .collect();
        let width = |i: usize| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..head.len()).map(width).collect();
        let line = |cells: [&str; 6]| {
            let mut out = String::from("  ");
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i == 0 || i == 5 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
                if i + 1 < cells.len() {
                    out.push_str("  ");
                }
            }
            format!("{}\n", out.trim_end())
        };
        let mut out = format!("\n{}\n", s.bold("recap"));
        out.push_str(&s.dim(&line(head)));
        for r in &rows {
            out.push_str(&line([
                r[0].as_str(),
                r[1].as_str(),
                r[2].as_str(),
                r[3].as_str(),
                r[4].as_str(),
                r[5].as_str(),
            ]));
        }
        out
    }

    fn summary(&self, summary: &Summary) -> String {
        let s = &self.style;
        if self.quiet && summary.success() {
            return String::new();
        }
        let changed = if summary.predict {
            format!("{} would change", summary.changed)
        } else {
            format!("{} changed", summary.changed)
        };
        let mut out = String::new();
        if !summary.failures.is_empty() {
            out.push_str(&format!("\n{}\n", s.red("failures:")));
            for f in &summary.failures {
                out.push_str(&format!("  {}\n", f.replace('\n', "\n    ")));
            }
        }
        let verdict = if summary.success() {
            s.green(if summary.predict {
                "predicted"
            } else {
                "deployed"
            })
        } else {
            s.red("FAILED")
        };
        out.push_str(&format!(
            "\n{verdict} {}: {changed}, {} unchanged, {} failed{} in {}\n",
            summary.environment,
            summary.unchanged,
            summary.failed,
            if summary.skipped > 0 {
                format!(", {} skipped", summary.skipped)
            } else {
                String::new()
            },
            duration(millis(summary.millis))
        ));
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

impl Reporter for Human {
    fn report(&self, event: &Event) {
        // What components wrote reaches the terminal with its control
        // characters escaped.
        let escaped = crate::escape::event(event);
        let event = &*escaped;
        // One event is written whole even when hosts run in parallel.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut text = String::new();
        match event {
            Event::Building {
                components, tool, ..
            } => {
                text.extend(self.end_build(&mut state, None));
                self.start_build(&mut state, components.join(", "), tool.clone());
            }
            Event::Built { millis: ms, .. } => {
                text.extend(self.end_build(&mut state, Some(millis(*ms))));
            }
            Event::BuildOutput { line } => {
                if let Some(bar) = &state.progress {
                    // Cargo's status lines: `Compiling serde v1.0 (…)` →
                    // `(cargo: Compiling serde)`.
                    let phase: Vec<&str> = line.split_whitespace().take(2).collect();
                    if phase
                        .first()
                        .is_some_and(|w| w.starts_with(char::is_uppercase))
                    {
                        let tool = state.build.as_ref().map_or("", |(_, t, _)| t.as_str());
                        bar.set_message(format!("({tool}: {})", phase.join(" ")));
                    }
                }
            }
            _ => text.extend(self.end_build(&mut state, None)),
        }
        text.extend(self.component(&mut state, event));
        text.extend(self.render(&mut state, event));
        if !text.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(duration(Duration::from_millis(47)), "47 ms");
        assert_eq!(duration(Duration::from_millis(2_440)), "2.4 s");
        assert_eq!(duration(Duration::from_millis(42_300)), "42 s");
        assert_eq!(duration(Duration::from_secs(62)), "1 min 02 s");
    }

    #[test]
    fn diff_headers_inside_the_folder_are_relative() {
        let s = Style::new(false);
        let diff = "--- /dev/null\n+++ /srv/repo/work/a/a.txt\n@@ -0,0 +1 @@\n+x\n";
        assert_eq!(
            s.diff(diff, Some(Path::new("/srv/repo"))),
            "      --- /dev/null\n      +++ work/a/a.txt\n      @@ -0,0 +1 @@\n      +x\n"
        );
    }
}
