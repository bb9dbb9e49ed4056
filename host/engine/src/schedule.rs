//! The schedule: which root deploys when, on which host's [`Target`].
//!
//! A host's next root starts as soon as every root it depends on (on any
//! host) succeeded; consecutive roots of a host that wait on nothing else
//! go to its target in one request. Up to `jobs` hosts work at once; roots
//! of one host deploy one after another, in plan order.

use crate::deploy::WalkOptions;
use crate::event::{Event, Reporter, Summary};
use crate::target::{
    BatchResult, Connect, Destination, HostRequest, HostSecrets, INTERRUPTED, RootPlan, RootResult,
    Shipment, Target, TargetFault,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One root of the plan, as the schedule sends it to its host.
#[derive(Debug)]
pub struct Scheduled {
    /// The root's plan.
    pub plan: RootPlan,
    /// How its host is reached.
    pub destination: Destination,
    /// Why it failed already on the controller (configure), when it did.
    pub failed: Option<String>,
}

/// What the whole run sends: every root, what each host needs shipped,
/// and each host's share of the secrets.
#[derive(Debug, Default)]
pub struct Schedule {
    /// The roots in plan order.
    pub roots: Vec<Scheduled>,
    /// `after[i]`: the roots (by index) that must succeed before root `i`.
    pub after: Vec<Vec<usize>>,
    /// What each host needs besides its requests, by host name.
    pub shipments: BTreeMap<String, Shipment>,
    /// Each host's share of the secrets, by host name.
    pub secrets: BTreeMap<String, HostSecrets>,
}

/// Where a root stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Succeeded,
    /// Failed or skipped; the `host/component` to blame for dependents.
    Broken(String),
}

/// A host's target in the schedule.
enum HostSlot<'c> {
    /// Not opened yet.
    Closed,
    /// Open and idle.
    Open(Box<dyn Target + 'c>),
    /// Sending a request.
    Busy,
    /// Lost for the rest of the run, with the reason.
    Lost(String),
}

/// What a worker hands back: the host, the roots it sent, and its target
/// with the result, or the fault (with the target, when it was opened).
type Finished<'c> = (
    String,
    Vec<usize>,
    Result<(Box<dyn Target + 'c>, BatchResult), (Option<Box<dyn Target + 'c>>, TargetFault)>,
);

/// Deploys every root of `schedule` through the hosts' targets, opened
/// with `connect`. The dependents of a failed root are skipped; independent
/// roots go on. A host that cannot be reached or is lost fails its
/// remaining roots. Once `interrupt` is set, no root starts and the
/// targets stop after their current step. Every outcome is counted in
/// `summary`.
pub fn run<'c>(
    schedule: &Schedule,
    options: WalkOptions,
    memory_limit: usize,
    connect: &'c dyn Connect,
    reporter: &Arc<dyn Reporter>,
    summary: &mut Summary,
    interrupt: &AtomicBool,
) {
    let roots = &schedule.roots;
    let after = &schedule.after;
    let mut status = vec![Status::Waiting; roots.len()];
    let mut hosts: BTreeMap<String, HostSlot<'c>> = roots
        .iter()
        .map(|r| (r.plan.host.name.clone(), HostSlot::Closed))
        .collect();
    let jobs = options.jobs.max(1);
    let empty = Shipment::default();
    let no_secrets = HostSecrets::default();

    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel::<Finished<'c>>();
        let mut running = 0;
        loop {
            settle(
                roots,
                after,
                &hosts,
                &mut status,
                reporter,
                summary,
                interrupt,
            );
            // Start every idle host whose next root is ready.
            for i in 0..roots.len() {
                if running >= jobs || interrupt.load(Ordering::Relaxed) {
                    break;
                }
                if status[i] != Status::Waiting
                    || earlier_pending(roots, &status, i)
                    || !after[i].iter().all(|&d| status[d] == Status::Succeeded)
                {
                    continue;
                }
                let host = roots[i].plan.host.name.clone();
                let target = match hosts.insert(host.clone(), HostSlot::Busy) {
                    Some(HostSlot::Open(t)) => Some(t),
                    Some(HostSlot::Closed) | None => None,
                    Some(other) => {
                        hosts.insert(host.clone(), other);
                        continue;
                    }
                };
                let batch = batch(roots, after, &status, i);
                let request = HostRequest {
                    predict: options.predict,
                    timeout_ms: u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
                    memory_limit,
                    allow_unconfined: options.allow_unconfined,
                    secrets: schedule.secrets.get(&host).unwrap_or(&no_secrets).clone(),
                    roots: batch
                        .iter()
                        .map(|&j| {
                            let mut plan = roots[j].plan.clone();
                            plan.after = after[j]
                                .iter()
                                .filter_map(|d| batch.iter().position(|b| b == d))
                                .collect();
                            plan
                        })
                        .collect(),
                };
                for &j in &batch {
                    status[j] = Status::Running;
                }
                running += 1;
                let done = done.clone();
                let shipment = schedule.shipments.get(&host).unwrap_or(&empty);
                let destination = &roots[i].destination;
                let reporter = reporter.clone();
                scope.spawn(move || {
                    let opened = match target {
                        Some(t) => Ok(t),
                        None => connect.open(destination, shipment),
                    };
                    let outcome = match opened {
                        Err(fault) => Err((None, fault)),
                        Ok(mut target) => match target.deploy(&request, &reporter, interrupt) {
                            Ok(result) => Ok((target, result)),
                            Err(fault) => Err((Some(target), fault)),
                        },
                    };
                    // The receiver lives until every worker is joined.
                    let _ = done.send((host, batch, outcome));
                });
            }
            if running == 0 {
                break;
            }
            let Ok((host, batch, outcome)) = finished.recv() else {
                break;
            };
            running -= 1;
            let (result, slot) = match outcome {
                Ok((target, result)) => (result, HostSlot::Open(target)),
                Err((target, fault)) => {
                    if let Some(target) = target {
                        target.finish(reporter.as_ref());
                    }
                    (*fault.partial, HostSlot::Lost(fault.message))
                }
            };
            hosts.insert(host, slot);
            summary.changed += result.summary.changed;
            summary.unchanged += result.summary.unchanged;
            summary.failed += result.summary.failed;
            summary.skipped += result.summary.skipped;
            summary.failures.extend(result.summary.failures);
            for (k, &i) in batch.iter().enumerate() {
                status[i] = match result.roots.get(k) {
                    Some(RootResult::Succeeded) => Status::Succeeded,
                    Some(_) => Status::Broken(id(&roots[i].plan)),
                    // Not reached: its host is lost, and `settle` fails it.
                    None => Status::Waiting,
                };
            }
        }
        for (_, slot) in std::mem::take(&mut hosts) {
            if let HostSlot::Open(target) = slot {
                target.finish(reporter.as_ref());
            }
        }
    });
}

fn id(plan: &RootPlan) -> String {
    format!("{}/{}", plan.host.name, plan.component)
}

/// Settles what needs no target: the dependents of failed roots (skipped),
/// roots that failed on the controller, and the roots of a lost host or of
/// an interrupted run (failed). Roots of one host settle in plan order.
fn settle(
    roots: &[Scheduled],
    after: &[Vec<usize>],
    hosts: &BTreeMap<String, HostSlot<'_>>,
    status: &mut [Status],
    reporter: &Arc<dyn Reporter>,
    summary: &mut Summary,
    interrupt: &AtomicBool,
) {
    // Bounded: every round settles at least one root or ends.
    loop {
        let mut settled = false;
        for i in 0..roots.len() {
            if status[i] != Status::Waiting || earlier_pending(roots, status, i) {
                continue;
            }
            let plan = &roots[i].plan;
            let blame = after[i].iter().find_map(|&d| match &status[d] {
                Status::Broken(who) => Some(who.clone()),
                _ => None,
            });
            let lost = match hosts.get(&plan.host.name) {
                Some(HostSlot::Lost(why)) => Some(why.clone()),
                _ if interrupt.load(Ordering::Relaxed) => Some(INTERRUPTED.to_string()),
                _ => None,
            };
            if let Some(blame) = blame {
                reporter.report(&Event::ComponentSkipped {
                    host: plan.host.name.clone(),
                    component: plan.component.clone(),
                    because: blame.clone(),
                });
                summary.skipped += 1;
                status[i] = Status::Broken(blame);
            } else if let Some(error) = roots[i].failed.clone().or(lost) {
                reporter.report(&Event::ComponentFailed {
                    host: plan.host.name.clone(),
                    component: plan.component.clone(),
                    error: error.clone(),
                });
                summary.failed += 1;
                summary.failures.push(format!("{}: {error}", id(plan)));
                status[i] = Status::Broken(id(plan));
            } else {
                continue;
            }
            settled = true;
        }
        if !settled {
            return;
        }
    }
}

/// Whether an earlier root of the same host has not finished.
fn earlier_pending(roots: &[Scheduled], status: &[Status], i: usize) -> bool {
    (0..i).any(|j| {
        roots[j].plan.host.name == roots[i].plan.host.name
            && matches!(status[j], Status::Waiting | Status::Running)
    })
}

/// Root `first` and the host's next roots that wait on nothing outside
/// what already succeeded and the batch itself.
fn batch(roots: &[Scheduled], after: &[Vec<usize>], status: &[Status], first: usize) -> Vec<usize> {
    let host = &roots[first].plan.host.name;
    let mut out = vec![first];
    for j in first + 1..roots.len() {
        if roots[j].plan.host.name != *host || status[j] != Status::Waiting {
            continue;
        }
        let ready = roots[j].failed.is_none()
            && after[j]
                .iter()
                .all(|d| status[*d] == Status::Succeeded || out.contains(d));
        if !ready {
            break;
        }
        out.push(j);
    }
    out
}
