//! berth's WebAssembly runtime: loads deployment components, caches their
//! compiled code, and runs their lifecycle exports inside a sandbox.
//!
//! A [`Runtime`] owns one wasmtime engine. [`Runtime::load`] checks that a
//! `.wasm` file is a component of a supported API version *before* compiling
//! it, then compiles it once into an on-disk cache keyed by the sha256 of the
//! file and the engine's compatibility hash, so a second run compiles nothing.
//! A loaded [`Package`] creates one [`Instance`] per root component; every
//! call into the guest runs under a wall-clock deadline (epoch interruption)
//! and a memory cap, and reaches the outside world only through the
//! capabilities of its [`Phase`]:
//!
//! | phase     | model            | fs / process                |
//! |-----------|------------------|-----------------------------|
//! | describe  | read-only        | refused                     |
//! | configure | provide, require | refused (configure is pure) |
//! | verify    | read-only        | read-only sandbox           |
//! | update    | read-only        | the granted sandbox         |
//!
//! A Python component is not a component file of its own: berth's shared
//! Python runtime serves it, and [`Runtime::load_python`] hands an instance
//! the component's [`Sources`] as data.
//!
//! ```no_run
//! use berth_runtime::{Runtime, RuntimeOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let package = runtime.load("components/hello.wasm".as_ref())?;
//! for root in &package.description.roots {
//!     println!("{}: {}", root.name, root.doc);
//! }
//! # Ok(())
//! # }
//! ```

mod cache;
mod error;
mod host;
mod instance;
mod python;
mod version;
mod wasi;

pub use cache::{CacheOutcome, default_dir as default_cache_dir};
pub use error::{CallError, LoadError};
pub use host::{
    LogSink, MAX_INSTANCES, MAX_LOG_LINE, MAX_LOG_LINES, MAX_MEMORIES, MAX_TABLES, Model, Phase,
    ProvidedValue, Require, ResolveAddress,
};
pub use instance::{
    DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, Instance, MAX_DEPTH, MAX_STEPS, Package, Runtime,
    RuntimeOptions,
};
pub use python::Sources;
pub use version::{API_VERSION, SUPPORTED_API_VERSIONS, api_version};

/// The name of a log level in events and output: `trace`, `debug`, `info`,
/// `warn` or `error` (`docs/events.md`).
pub fn log_level_name(level: wit::LogLevel) -> &'static str {
    match level {
        wit::LogLevel::Trace => "trace",
        wit::LogLevel::Debug => "debug",
        wit::LogLevel::Info => "info",
        wit::LogLevel::Warn => "warn",
        wit::LogLevel::Error => "error",
    }
}

/// The types of the `berth:component@0.1.0` WIT package, as the host sees them.
pub mod wit {
    pub use crate::bindings::berth::component::fs::{FileKind, StatInfo};
    pub use crate::bindings::berth::component::process::{
        Command as ProcessCommand, Output as ProcessOutput,
    };
    pub use crate::bindings::berth::component::types::*;
}

mod bindings {
    wasmtime::component::bindgen!({
        world: "component",
        path: "../../wit/v0.1.0",
    });
}
