//! `berth show ENV [--host H] [--component C]`: the resolved model.

use crate::cli::Format;
use crate::report;
use berth_engine::DeployOptions;
use berth_engine::event::{Event, Reporter};
use berth_engine::show::{ModelView, RootView};
use berth_secrets::IdentitySources;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// What to show.
pub struct Filter<'a> {
    /// Only this host.
    pub host: Option<&'a str>,
    /// Only this component.
    pub component: Option<&'a str>,
}

/// Exit 0 when the model was shown (a root whose configure failed is shown
/// with its error; `berth check` is the verdict), 2 when the environment
/// could not be resolved or a filter names nothing.
pub fn run(
    repo: PathBuf,
    environment: &str,
    filter: Filter<'_>,
    format: Format,
    build: bool,
    identities: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut options = DeployOptions::new(repo, environment);
    options.build = build;
    options.identities = IdentitySources::from_env(identities);
    // Only build progress reaches the terminal, and only in human form: the
    // JSON form is one object.
    let reporter: Arc<dyn Reporter> = Arc::new(BuildOnly(match format {
        Format::Human => Some(report::reporter(Format::Human, false)),
        Format::Json => None,
    }));
    let resolved = berth_engine::show::resolve(&options, reporter)
        .map(|(loaded, plan)| berth_engine::show::view(&loaded, &plan));
    let mut view = match resolved {
        Ok(view) => view,
        Err(error) if format == Format::Json => {
            report::json_error(&anyhow::Error::new(error));
            return Ok(ExitCode::from(2));
        }
        Err(error) => return Err(error.into()),
    };
    if let Err(error) = check_filter(&view, &filter) {
        if format == Format::Json {
            report::json_error(&error);
            return Ok(ExitCode::from(2));
        }
        return Err(error);
    }
    view.filter(filter.host, filter.component);
    if format == Format::Json {
        println!("{}", serde_json::to_string(&view)?);
    } else {
        print!("{}", human(&view));
    }
    Ok(ExitCode::SUCCESS)
}

/// An unknown host or component is an error, with a "did you mean".
fn check_filter(view: &ModelView, filter: &Filter<'_>) -> anyhow::Result<()> {
    let env = &view.environment;
    if let Some(host) = filter.host
        && !view.hosts.iter().any(|h| h.name == host)
    {
        let names: Vec<&str> = view.hosts.iter().map(|h| h.name.as_str()).collect();
        anyhow::bail!(
            "environment `{env}` has no host `{host}`\n  {}",
            suggestion(host, &names, "hosts")
        );
    }
    if let Some(component) = filter.component {
        let mut names: Vec<&str> = view.roots.iter().map(|r| r.component.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if !names.contains(&component) {
            anyhow::bail!(
                "environment `{env}` deploys no component `{component}`\n  {}",
                suggestion(component, &names, "components")
            );
        }
        if let Some(host) = filter.host
            && !view
                .roots
                .iter()
                .any(|r| r.host == host && r.component == component)
        {
            anyhow::bail!("component `{component}` is not deployed on host `{host}`");
        }
    }
    Ok(())
}

fn suggestion(name: &str, names: &[&str], what: &str) -> String {
    match berth_config::did_you_mean(name, names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if names.is_empty() => format!("it has no {what}"),
        None => format!("its {what}: {}", names.join(", ")),
    }
}

fn human(view: &ModelView) -> String {
    let mut out = format!("environment {} ({})\n", view.environment, view.file);
    for host in &view.hosts {
        out.push_str(&format!("\nhost {}\n", host.name));
        out.push_str(&format!("  fqdn          {}\n", host.fqdn));
        out.push_str(&format!("  platform      {}\n", or_none(&host.platform)));
        out.push_str(&format!(
            "  service user  {}\n",
            or_none(&host.service_user)
        ));
        for (key, value) in &host.data {
            out.push_str(&format!("  data-{key} = {value}\n"));
        }
        for root in view.roots.iter().filter(|r| r.host == host.name) {
            out.push_str(&component(root));
        }
    }
    out.push_str("\ndeploy order\n");
    if view.order.is_empty() {
        out.push_str("  (nothing to deploy)\n");
    }
    for (i, id) in view.order.iter().enumerate() {
        out.push_str(&format!("  {}. {id}\n", i + 1));
    }
    out.push_str("\nprovide/require\n");
    if view.edges.is_empty() {
        out.push_str("  (none)\n");
    }
    for e in &view.edges {
        let flags: Vec<&str> = [
            (e.strict, "strict"),
            (e.same_host, "same host"),
            (e.reverse, "reverse"),
            (e.dirty, "dirty"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        out.push_str(&format!(
            "  {} → {}: {}{}\n",
            e.provider,
            e.requirer,
            e.key,
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            }
        ));
    }
    out
}

fn component(root: &RootView) -> String {
    let mut out = format!("\n  component {}\n", root.component);
    if let Some(error) = &root.failed {
        out.push_str("    configure failed:\n");
        for line in error.lines() {
            out.push_str(&format!("      {line}\n"));
        }
    }
    if root.attributes.is_empty() {
        out.push_str("    attributes: none\n");
    } else {
        out.push_str("    attributes:\n");
        let width = root
            .attributes
            .iter()
            .map(|a| a.name.len() + 3 + a.value.to_string().len())
            .max()
            .unwrap_or(0);
        for a in &root.attributes {
            let line = format!("{} = {}", a.name, a.value);
            out.push_str(&format!("      {line:<width$}  ({})\n", a.source));
        }
    }
    out.push_str(&format!(
        "    features: {}\n",
        if root.features.is_empty() {
            "none".to_string()
        } else {
            root.features.join(", ")
        }
    ));
    if root.paths.is_empty() && root.commands.is_empty() {
        out.push_str("    grants: nothing beyond its workdir and defdir\n");
    } else {
        out.push_str("    grants:\n");
        for p in &root.paths {
            out.push_str(&format!("      path {p}\n"));
        }
        for c in &root.commands {
            out.push_str(&format!("      command {c}\n"));
        }
    }
    for (key, value) in &root.provided {
        out.push_str(&format!("    provides {key} = {value}\n"));
    }
    out
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "(none)" } else { text }
}

/// Passes on build progress only (a `loaded` event ends the spinner).
struct BuildOnly(Option<Arc<dyn Reporter>>);

impl Reporter for BuildOnly {
    fn report(&self, event: &Event) {
        if let Some(inner) = &self.0
            && matches!(
                event,
                Event::Building { .. }
                    | Event::Built { .. }
                    | Event::BuildOutput { .. }
                    | Event::Loaded { .. }
            )
        {
            inner.report(event);
        }
    }
}
