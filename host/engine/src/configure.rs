//! Configure every root in the sandbox until provide/require settles, then
//! order the roots so that providers deploy before their requirers.

use crate::error::Problem;
use crate::model::Root;
use berth_runtime::wit::Step;
use berth_runtime::{Instance, ProvidedValue};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Rounds after which provide/require is declared not to settle.
const MAX_ROUNDS: usize = 10;

/// A root after configure.
#[derive(Debug)]
pub struct Configured {
    /// The root.
    pub root: Root,
    /// Its instance, kept for verify and update of custom steps.
    pub instance: Option<Instance>,
    /// The programs it may run, resolved once; its built-in command steps
    /// use the same set as its instance.
    pub programs: Arc<berth_sandbox::Programs>,
    /// The step list configure returned.
    pub steps: Vec<Step>,
    /// Why it failed, when it did.
    pub failed: Option<String>,
}

/// The result of configuring every root.
#[derive(Debug)]
pub struct Plan {
    /// Roots in deploy order.
    pub roots: Vec<Configured>,
    /// `after[i]`: indices (into `roots`) that must succeed before `roots[i]`.
    pub after: Vec<Vec<usize>>,
    /// How many rounds configure needed.
    pub rounds: usize,
    /// Every provide/require connection, by index into `roots`: also the
    /// `dirty` ones (which add no ordering edge) and a root that requires
    /// what it provides itself. Sorted by (key, provider, requirer).
    pub edges: Vec<Edge>,
    /// Things worth a look that do not stop the deployment: values provided
    /// under a key that no root requires (often a misspelt key).
    pub warnings: Vec<Problem>,
    /// The secrets the roots may use (their secret files are written by
    /// name); a remote host's plan carries only its own share.
    pub secrets: Arc<berth_config::Secrets>,
    /// What every event and error is masked with.
    pub mask: Arc<berth_secrets::Mask>,
    /// What `model.resolve` answered while configuring, by address; a
    /// target configures again with the same answers.
    pub resolved: std::collections::BTreeMap<String, String>,
}

/// One value provided by one root and received by a `require` of another
/// (or the same) root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The key.
    pub key: String,
    /// The providing root (index into [`Plan::roots`]).
    pub provider: usize,
    /// The requiring root (index into [`Plan::roots`]).
    pub requirer: usize,
    /// The require was strict: an empty answer is an error.
    pub strict: bool,
    /// The require asked for values of its own host only.
    pub same_host: bool,
    /// The ordering edge is inverted: the requirer deploys first.
    pub reverse: bool,
    /// The require adds no ordering edge (a cycle breaker).
    pub dirty: bool,
}

/// Runs configure rounds until the provided values stop changing, checks
/// strict requires, and orders the roots. A root whose configure fails is
/// kept with its error; problems of the model as a whole are returned.
pub fn configure(mut roots: Vec<Configured>) -> Result<Plan, Vec<Problem>> {
    let mut available: Arc<Vec<ProvidedValue>> = Arc::new(Vec::new());
    let mut rounds = 0;
    loop {
        rounds += 1;
        // Every round configures every instantiated root again, including
        // one whose configure failed in an earlier round: it may have failed
        // for want of a value that is provided now. Only the final round's
        // outcome counts. (A root without an instance failed for good.)
        for c in roots.iter_mut() {
            let Some(instance) = c.instance.as_mut() else {
                continue;
            };
            instance.model_mut().available = available.clone();
            match instance.configure() {
                Ok(steps) => {
                    c.steps = steps;
                    c.failed = None;
                }
                Err(e) => {
                    c.steps = Vec::new();
                    c.failed = Some(e.to_string());
                }
            }
        }
        let now = collect_provided(&roots);
        if now == *available {
            break;
        }
        if rounds == MAX_ROUNDS {
            let keys: BTreeSet<&str> = now
                .iter()
                .filter(|p| !available.contains(p))
                .map(|p| p.key.as_str())
                .collect();
            return Err(vec![Problem::new(
                None,
                format!(
                    "provide/require did not settle after {MAX_ROUNDS} rounds: the values of {} keep changing",
                    keys.into_iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .hint("configure must be deterministic: provide the same value for the same inputs")]);
        }
        available = Arc::new(now);
    }

    let mut problems = Vec::new();
    for c in &roots {
        let Some(instance) = &c.instance else {
            continue;
        };
        for r in &instance.model().required {
            if r.options.strict && r.answered == 0 && c.failed.is_none() {
                problems.push(
                    Problem::new(
                        None,
                        format!(
                            "component `{}` on host `{}` requires `{}`, but no component provides it{}",
                            c.root.component,
                            c.root.host.name,
                            r.key,
                            if r.options.same_host { " on the same host" } else { "" }
                        ),
                    )
                    .hint(format!(
                        "add a component that provides `{}` to a host, or make the require optional",
                        r.key
                    )),
                );
            }
        }
    }

    let connections = connections(&roots, &available);
    let edges = edges(&roots, &available);
    let order = match toposort(roots.len(), &edges) {
        Ok(order) => order,
        Err(cycle) => {
            let lines: Vec<String> = cycle
                .iter()
                .map(|&(from, to, ref key)| {
                    format!(
                        "`{}` before `{}` (provides `{key}`)",
                        roots[from].root.id(),
                        roots[to].root.id()
                    )
                })
                .collect();
            problems.push(
                Problem::new(
                    None,
                    "the components depend on each other in a cycle".to_string(),
                )
                .hint(format!(
                    "{}\nbreak it with a `dirty` require on one edge",
                    lines.join("\n")
                )),
            );
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut position = vec![0; roots.len()];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    let mut after = vec![Vec::new(); roots.len()];
    for &(from, to, _) in &edges {
        after[position[to]].push(position[from]);
    }
    let mut edges: Vec<Edge> = connections
        .into_iter()
        .map(|mut e| {
            e.provider = position[e.provider];
            e.requirer = position[e.requirer];
            e
        })
        .collect();
    edges.sort();
    let mut slots: Vec<Option<Configured>> = roots.into_iter().map(Some).collect();
    let roots = order
        .iter()
        .filter_map(|&i| slots[i].take())
        .collect::<Vec<_>>();
    let warnings = unused_provides(&roots, &edges);
    Ok(Plan {
        roots,
        after,
        rounds,
        edges,
        warnings,
        secrets: Arc::default(),
        mask: Arc::default(),
        resolved: Default::default(),
    })
}

/// A value provided under a key that no root's `require` received: batou
/// reports it because it is usually a misspelt key on one side.
fn unused_provides(roots: &[Configured], edges: &[Edge]) -> Vec<Problem> {
    let required: BTreeSet<&str> = roots
        .iter()
        .filter_map(|c| c.instance.as_ref())
        .flat_map(|i| i.model().required.iter().map(|r| r.key.as_str()))
        .collect();
    let mut out = Vec::new();
    for (i, c) in roots.iter().enumerate() {
        let Some(instance) = &c.instance else {
            continue;
        };
        for (key, _) in &instance.model().provided {
            if edges.iter().any(|e| e.provider == i && e.key == *key) {
                continue;
            }
            let (host, component) = (&c.root.host.name, &c.root.component);
            let mut problem = if required.contains(key.as_str()) {
                Problem::new(
                    None,
                    format!(
                        "component `{component}` on host `{host}` provides `{key}`, but no require reaches it: every require of `{key}` asks for values of its own host (`same_host`)"
                    ),
                )
            } else {
                Problem::new(
                    None,
                    format!(
                        "component `{component}` on host `{host}` provides `{key}`, but no component requires it"
                    ),
                )
            };
            if !required.contains(key.as_str())
                && let Some(close) = berth_config::did_you_mean(key, required.iter().copied())
            {
                problem = problem.hint(format!(
                    "a component requires `{close}`: is one of the keys misspelt?"
                ));
            }
            out.push(problem);
        }
    }
    out
}

/// Every provide/require connection, by index into `roots`, dirty and
/// self-connections included.
fn connections(roots: &[Configured], available: &[ProvidedValue]) -> Vec<Edge> {
    let mut out = BTreeSet::new();
    for (requirer, c) in roots.iter().enumerate() {
        let Some(instance) = &c.instance else {
            continue;
        };
        for r in &instance.model().required {
            for p in available
                .iter()
                .filter(|p| p.key == r.key && (!r.options.same_host || p.host == c.root.host.name))
            {
                let Some(provider) = roots
                    .iter()
                    .position(|o| o.root.host.name == p.host && o.root.component == p.component)
                else {
                    continue;
                };
                out.insert(Edge {
                    key: r.key.clone(),
                    provider,
                    requirer,
                    strict: r.options.strict,
                    same_host: r.options.same_host,
                    reverse: r.options.reverse,
                    dirty: r.options.dirty,
                });
            }
        }
    }
    out.into_iter().collect()
}

fn collect_provided(roots: &[Configured]) -> Vec<ProvidedValue> {
    let mut all: Vec<ProvidedValue> = roots
        .iter()
        .filter_map(|c| c.instance.as_ref().map(|i| (c, i)))
        .flat_map(|(c, i)| {
            i.model().provided.iter().map(|(key, value)| ProvidedValue {
                key: key.clone(),
                host: c.root.host.name.clone(),
                component: c.root.component.clone(),
                value: value.clone(),
            })
        })
        .collect();
    all.sort_by(|a, b| (&a.key, &a.host, &a.component).cmp(&(&b.key, &b.host, &b.component)));
    all
}

/// Deploy-order edges `(first, then, key)` from provide/require.
fn edges(roots: &[Configured], available: &[ProvidedValue]) -> Vec<(usize, usize, String)> {
    let mut out = BTreeSet::new();
    for (to, c) in roots.iter().enumerate() {
        let Some(instance) = &c.instance else {
            continue;
        };
        for r in instance
            .model()
            .required
            .iter()
            .filter(|r| !r.options.dirty)
        {
            for p in available
                .iter()
                .filter(|p| p.key == r.key && (!r.options.same_host || p.host == c.root.host.name))
            {
                let Some(from) = roots
                    .iter()
                    .position(|o| o.root.host.name == p.host && o.root.component == p.component)
                else {
                    continue;
                };
                if from == to {
                    continue;
                }
                if r.options.reverse {
                    out.insert((to, from, r.key.clone()));
                } else {
                    out.insert((from, to, r.key.clone()));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Kahn's algorithm, stable: among ready roots the earliest in the
/// environment goes first. On a cycle, returns the edges of one cycle.
#[allow(clippy::type_complexity)]
fn toposort(
    n: usize,
    edges: &[(usize, usize, String)],
) -> Result<Vec<usize>, Vec<(usize, usize, String)>> {
    let mut indegree = vec![0; n];
    for &(_, to, _) in edges {
        indegree[to] += 1;
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &(from, to, _) in edges {
            if from == i {
                indegree[to] -= 1;
                if indegree[to] == 0 {
                    ready.insert(to);
                }
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk backwards along unresolved edges until a node repeats.
    let stuck: Vec<usize> = (0..n).filter(|&i| indegree[i] > 0).collect();
    let mut path = vec![stuck[0]];
    loop {
        let &last = path.last().unwrap_or(&stuck[0]);
        let Some(edge) = edges
            .iter()
            .find(|(from, to, _)| *to == last && indegree[*from] > 0)
        else {
            return Err(Vec::new());
        };
        if let Some(pos) = path.iter().position(|&p| p == edge.0) {
            let cycle: Vec<usize> = path[pos..].iter().rev().copied().collect();
            let mut out = Vec::new();
            for w in 0..cycle.len() {
                let (a, b) = (cycle[w], cycle[(w + 1) % cycle.len()]);
                if let Some(e) = edges.iter().find(|(f, t, _)| *f == a && *t == b) {
                    out.push(e.clone());
                }
            }
            return Err(out);
        }
        path.push(edge.0);
    }
}

#[cfg(test)]
mod tests {
    use super::toposort;

    #[test]
    fn stable_order_without_edges() {
        assert_eq!(toposort(3, &[]).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn providers_first() {
        let edges = vec![(2, 0, "db".to_string())];
        assert_eq!(toposort(3, &edges).unwrap(), vec![1, 2, 0]);
    }

    #[test]
    fn cycle_lists_its_edges() {
        let edges = vec![
            (0, 1, "a".to_string()),
            (1, 2, "b".to_string()),
            (2, 0, "c".to_string()),
        ];
        let cycle = toposort(4, &edges).unwrap_err();
        assert_eq!(cycle.len(), 3, "{cycle:?}");
        for e in &edges {
            assert!(cycle.contains(e), "{cycle:?}");
        }
    }
}
