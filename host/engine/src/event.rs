//! What the engine reports while it works.
//!
//! The engine never writes to the terminal: it emits [`Event`]s to a
//! [`Reporter`], and the CLI turns them into human output or JSON lines.
//! The JSON form of every event is documented in `docs/events.md`; its field
//! names are stable.

use serde::{Deserialize, Serialize};

/// A step's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Outcome {
    /// verify said up to date; nothing ran.
    Unchanged,
    /// verify said it needs an update, and update ran and succeeded.
    Changed {
        /// Why verify asked for the update.
        reason: String,
        /// A unified diff of the change, for files.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
    },
    /// Predict mode: verify said it needs an update; nothing ran.
    WouldChange {
        /// Why verify asked for the update.
        reason: String,
        /// A unified diff of what would change, for files.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
    },
    /// verify or update failed.
    Failed {
        /// The error, with its causes.
        error: String,
    },
}

/// Something the engine did or found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    /// The deployment begins.
    Started {
        /// The environment.
        environment: String,
        /// Predict (dry-run) mode.
        predict: bool,
        /// Host names, in order.
        hosts: Vec<String>,
    },
    /// A phase of the run begins: `loading` (reading the environment,
    /// building and loading components), `configuring`, `deploying`.
    Phase {
        /// The phase's name.
        name: String,
    },
    /// Guest components are being built from source.
    Building {
        /// The folder being built, relative to the repository when inside it.
        workspace: String,
        /// The components being built.
        components: Vec<String>,
        /// What builds them: `cargo` or `componentize-py`.
        tool: String,
    },
    /// The build that [`Event::Building`] announced succeeded.
    Built {
        /// The components built.
        components: Vec<String>,
        /// How long it took, in milliseconds.
        millis: f64,
    },
    /// A line of build output.
    BuildOutput {
        /// The line.
        line: String,
    },
    /// A package was loaded.
    Loaded {
        /// The package name.
        package: String,
        /// Where from.
        path: String,
        /// Whether its compiled code came from the cache.
        cached: bool,
        /// How long loading took, in milliseconds.
        millis: f64,
    },
    /// The deploy order was decided.
    Planned {
        /// `host/component` pairs in the order they deploy.
        order: Vec<String>,
    },
    /// Something worth a look that does not stop the deployment, such as a
    /// value provided under a key no component requires.
    Warning {
        /// What was found.
        message: String,
        /// What to do about it, when there is a suggestion.
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    /// A root component starts deploying on a host.
    ComponentStarted {
        /// The host.
        host: String,
        /// The root component.
        component: String,
    },
    /// A step finished.
    Step {
        /// The host.
        host: String,
        /// The root component.
        component: String,
        /// The step's index in the component's step list.
        index: usize,
        /// The step's label.
        label: String,
        /// What happened.
        #[serde(flatten)]
        outcome: Outcome,
    },
    /// A component wrote a log line.
    Log {
        /// The host.
        host: String,
        /// The root component.
        component: String,
        /// `trace`, `debug`, `info`, `warn` or `error`.
        level: String,
        /// The line.
        message: String,
    },
    /// A root component finished on a host.
    ComponentFinished {
        /// The host.
        host: String,
        /// The root component.
        component: String,
        /// Steps that changed (or would change, in predict mode).
        changed: usize,
        /// Whether the component failed.
        failed: bool,
    },
    /// A root component failed outside of any step (configure, instantiate),
    /// or was skipped because a root it depends on failed.
    ComponentFailed {
        /// The host.
        host: String,
        /// The root component.
        component: String,
        /// What went wrong.
        error: String,
    },
    /// A root was not deployed because something it depends on failed.
    ComponentSkipped {
        /// The host.
        host: String,
        /// The root component.
        component: String,
        /// The failed dependency, as `host/component`.
        because: String,
    },
    /// The deployment ended; always the last event.
    Summary(Summary),
}

/// The totals of a run. A run succeeded exactly when `failed` is zero.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// The environment.
    pub environment: String,
    /// Predict (dry-run) mode: `changed` counts what would change.
    pub predict: bool,
    /// Steps that changed (would change, in predict mode).
    pub changed: usize,
    /// Steps that were up to date.
    pub unchanged: usize,
    /// Failed steps plus roots that failed outside a step.
    pub failed: usize,
    /// Roots not deployed because a dependency failed.
    pub skipped: usize,
    /// Every failure, as `host/component: error`.
    pub failures: Vec<String>,
    /// Wall-clock time of the whole run, in milliseconds.
    pub millis: f64,
}

impl Summary {
    /// Whether every step and every root succeeded.
    pub fn success(&self) -> bool {
        self.failed == 0 && self.skipped == 0
    }
}

/// Receives events. Implementations must be cheap: the engine calls them on
/// its hot path.
pub trait Reporter: Send + Sync {
    /// One event.
    fn report(&self, event: &Event);
}

/// A reporter that keeps every event, for tests and embedding.
#[derive(Debug, Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Event>>);

impl Reporter for Collect {
    fn report(&self, event: &Event) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event.clone());
        }
    }
}
