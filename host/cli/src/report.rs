//! The reporters: the only code that writes to the terminal.

use crate::cli::Format;
use berth_engine::event::{Event, Outcome, Reporter, Summary};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The reporter for a format.
pub fn reporter(format: Format, debug: bool) -> Arc<dyn Reporter> {
    match format {
        Format::Human => Arc::new(Human::new(debug)),
        Format::Json => Arc::new(Json),
    }
}

/// Prints an error that stopped the command, with its causes, once.
pub fn error(error: &anyhow::Error) {
    let style = Style::new(std::io::stderr().is_terminal());
    let mut out = std::io::stderr().lock();
    let text = |e: &dyn std::fmt::Display| crate::escape::text(&e.to_string()).into_owned();
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
        Self {
            color: color && std::env::var_os("NO_COLOR").is_none(),
        }
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

    fn diff(&self, diff: &str) -> String {
        diff.lines()
            .map(|line| {
                let painted = if line.starts_with("+++") || line.starts_with("---") {
                    self.bold(line)
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

/// Readable output: one line per component, a line and a diff per change,
/// failures in full, and a summary.
struct Human {
    debug: bool,
    style: Style,
    state: Mutex<HumanState>,
}

#[derive(Default)]
struct HumanState {
    /// The spinner shown on a terminal while components build.
    progress: Option<indicatif::ProgressBar>,
    /// The component whose lines are being written, and whether its header
    /// was printed: a component with nothing to say gets one line at the end.
    header: Option<(String, bool)>,
}

impl Human {
    fn new(debug: bool) -> Self {
        Self {
            debug,
            style: Style::new(std::io::stdout().is_terminal()),
            state: Mutex::new(HumanState::default()),
        }
    }

    /// Long work (building guests) shows a spinner with cargo's latest line
    /// on a terminal; it disappears when the next kind of event arrives.
    fn progress(&self, event: &Event, progress: &mut Option<indicatif::ProgressBar>) {
        match event {
            Event::Building { .. } if !self.debug && std::io::stderr().is_terminal() => {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar.set_message("starting cargo");
                *progress = Some(bar);
            }
            Event::BuildOutput { line } => {
                if let Some(bar) = progress {
                    bar.set_message(line.trim().to_string());
                }
            }
            _ => {
                if let Some(bar) = progress.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }

    fn render(&self, event: &Event) -> Option<String> {
        let escaped = crate::escape::event(event);
        let event = &*escaped;
        let s = &self.style;
        Some(match event {
            Event::Started {
                environment,
                predict,
                hosts,
            } => format!(
                "{} {} {}\n",
                s.bold(if *predict { "predicting" } else { "deploying" }),
                s.bold(environment),
                s.dim(&format!(
                    "({} host{})",
                    hosts.len(),
                    if hosts.len() == 1 { "" } else { "s" }
                ))
            ),
            Event::Building { workspace } => format!("building components in {workspace}\n"),
            Event::BuildOutput { line } if self.debug => format!("  {}\n", s.dim(line)),
            Event::Loaded {
                package,
                cached,
                millis,
                ..
            } if self.debug => format!(
                "  {} {package} in {millis:.1} ms{}\n",
                s.dim("loaded"),
                if *cached { " (cached)" } else { " (compiled)" }
            ),
            Event::Planned { order } if self.debug => {
                format!("  {} {}\n", s.dim("order:"), order.join(" → "))
            }
            Event::Step { label, outcome, .. } => match outcome {
                Outcome::Unchanged if self.debug => {
                    format!("    {} {label}\n", s.dim("unchanged"))
                }
                Outcome::Unchanged => return None,
                Outcome::Changed { reason, diff } => format!(
                    "    {} {label} {}\n{}",
                    s.green("changed"),
                    s.dim(&format!("({reason})")),
                    diff.as_deref().map(|d| s.diff(d)).unwrap_or_default()
                ),
                Outcome::WouldChange { reason, diff } => format!(
                    "    {} {label} {}\n{}",
                    s.yellow("would change"),
                    s.dim(&format!("({reason})")),
                    diff.as_deref().map(|d| s.diff(d)).unwrap_or_default()
                ),
                Outcome::Failed { error } => {
                    format!("    {} {label}\n{}", s.red("failed"), indent(error, 6))
                }
            },
            Event::Log { level, message, .. } => match level.as_str() {
                "error" => format!("    {} {message}\n", s.red("error:")),
                "warn" => format!("    {} {message}\n", s.yellow("warning:")),
                "info" => format!("    {message}\n"),
                _ if self.debug => format!("    {}\n", s.dim(message)),
                _ => return None,
            },
            Event::ComponentFinished {
                host,
                component,
                changed: 0,
                failed: false,
            } => format!(
                "  {} {}\n",
                s.bold(&format!("{host}/{component}")),
                s.dim("up to date")
            ),
            Event::ComponentFailed {
                host,
                component,
                error,
            } => format!(
                "  {} {}\n{}",
                s.bold(&format!("{host}/{component}")),
                s.red("failed"),
                indent(error, 4)
            ),
            Event::ComponentSkipped {
                host,
                component,
                because,
            } => format!(
                "  {} {}\n",
                s.bold(&format!("{host}/{component}")),
                s.yellow(&format!("skipped: `{because}` failed"))
            ),
            Event::Warning { message, hint } => format!(
                "{} {message}\n{}",
                s.yellow("warning:"),
                hint.as_deref().map(|h| indent(h, 2)).unwrap_or_default()
            ),
            Event::Summary(summary) => self.summary(summary),
            _ => return None,
        })
    }

    fn summary(&self, summary: &Summary) -> String {
        let s = &self.style;
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
            "\n{verdict} {}: {changed}, {} unchanged, {} failed{} in {:.0} ms\n",
            summary.environment,
            summary.unchanged,
            summary.failed,
            if summary.skipped > 0 {
                format!(", {} skipped", summary.skipped)
            } else {
                String::new()
            },
            summary.millis
        ));
        out
    }
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

impl Reporter for Human {
    fn report(&self, event: &Event) {
        // One event is written whole even when hosts run in parallel.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let starts_work = matches!(event, Event::Building { .. });
        if !starts_work {
            self.progress(event, &mut state.progress);
        }
        let mut text = match event {
            Event::ComponentStarted { host, component } => {
                state.header = Some((format!("{host}/{component}"), false));
                None
            }
            Event::ComponentFinished { .. } => {
                let printed = state.header.take().is_some_and(|(_, printed)| printed);
                if printed { None } else { self.render(event) }
            }
            _ => self.render(event),
        };
        if let (Some(body), Some((id, printed @ false))) = (&text, &mut state.header)
            && matches!(event, Event::Step { .. } | Event::Log { .. })
        {
            text = Some(format!("  {}\n{body}", self.style.bold(id)));
            *printed = true;
        }
        if let Some(text) = text {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        if starts_work {
            self.progress(event, &mut state.progress);
        }
    }
}
