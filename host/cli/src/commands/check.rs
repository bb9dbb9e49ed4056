//! `berth check ENV`: load, resolve and configure; report, change nothing.

use crate::cli::Format;
use crate::report;
use berth_engine::DeployOptions;
use berth_engine::event::{Event, Reporter};
use berth_secrets::IdentitySources;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Exit 0 when the environment checks; 2 when it does not (a problem of the
/// environment or its components, or a root whose configure failed).
pub fn run(
    repo: PathBuf,
    environment: &str,
    format: Format,
    debug: bool,
    build: bool,
    identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let mut options = DeployOptions::new(repo, environment);
    options.build = build;
    options.identities = IdentitySources::from_env(identities);
    let inner = report::reporter(format, debug);
    let reporter: Arc<dyn Reporter> = match format {
        Format::Json => inner,
        Format::Human => Arc::new(Quiet { inner, debug }),
    };
    let (loaded, plan) = match berth_engine::show::resolve(&options, reporter) {
        Ok(resolved) => resolved,
        Err(error) if format == Format::Json => {
            report::json_error(&anyhow::Error::new(error));
            return Ok(ExitCode::from(2));
        }
        Err(error) => return Err(error.into()),
    };
    let env = &loaded.environment;
    let order: Vec<String> = plan.roots.iter().map(|c| c.root.id()).collect();
    let failures: Vec<String> = plan
        .roots
        .iter()
        .filter_map(|c| c.failed.as_ref().map(|e| format!("{}: {e}", c.root.id())))
        .collect();
    let hosts = {
        let mut names: Vec<&str> = loaded.roots.iter().map(|r| r.host.name.as_str()).collect();
        names.dedup();
        names.len()
    };
    let ok = failures.is_empty();
    if format == Format::Json {
        let line = serde_json::json!({
            "event": "checked",
            "environment": env.name,
            "ok": ok,
            "order": order,
            "rounds": plan.rounds,
            "failures": failures,
            "millis": start.elapsed().as_secs_f64() * 1000.0,
        });
        println!("{line}");
    } else {
        let mut out = format!(
            "checking {} ({} host{}, {} component{})\n",
            env.name,
            hosts,
            plural(hosts),
            order.len(),
            plural(order.len())
        );
        for c in plan.roots.iter().filter(|c| c.failed.is_some()) {
            out.push_str(&format!("  {} failed in configure\n", c.root.id()));
            for line in c.failed.as_deref().unwrap_or_default().lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out.push_str("deploy order:\n");
        for (i, id) in order.iter().enumerate() {
            out.push_str(&format!("  {}. {id}\n", i + 1));
        }
        if ok {
            out.push_str(&format!(
                "\nchecked {}: {} component{} on {} host{} configured in {} round{}; nothing was changed\n",
                env.name,
                order.len(),
                plural(order.len()),
                hosts,
                plural(hosts),
                plan.rounds,
                plural(plan.rounds)
            ));
        } else {
            out.push_str(&format!(
                "\nFAILED {} does not check: {} of {} component{} failed in configure; nothing was changed\n",
                env.name,
                failures.len(),
                order.len(),
                plural(order.len())
            ));
        }
        print!("{out}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The human reporter for a check: build progress and warnings always (a
/// `loaded` event ends its spinner and prints only with `--debug`),
/// component logs and the plan only with `--debug`.
struct Quiet {
    inner: Arc<dyn Reporter>,
    debug: bool,
}

impl Reporter for Quiet {
    fn report(&self, event: &Event) {
        if self.debug
            || matches!(
                event,
                Event::Building { .. }
                    | Event::Built { .. }
                    | Event::BuildOutput { .. }
                    | Event::Loaded { .. }
                    | Event::Warning { .. }
            )
        {
            self.inner.report(event);
        }
    }
}
