//! The host side of `berth:python-runtime/sources`: the import through
//! which berth's shared Python runtime asks for the sources of the one
//! component an instance runs.
//!
//! A Python component is not compiled: one runtime component (CPython, the
//! standard library and the SDK) serves every Python component, and its
//! instance gets the component's files as data from [`Sources`]. The import
//! hands the guest its own code and nothing else, so the sandbox is as
//! tight as for any component: no WASI preopens, no environment, no
//! sockets.

use crate::host::State;
use std::path::PathBuf;
use std::sync::Arc;

mod bindings {
    // Only the `sources` interface: the rest of the runtime's world is
    // `berth:component/component`, which `crate::bindings` serves.
    wasmtime::component::bindgen!({
        inline: "
            package berth:host-python;
            world sources-host {
                import berth:python-runtime/sources@0.1.0;
            }
        ",
        path: "../../wit/python-runtime/v0.1.0",
    });
}

use bindings::berth::python_runtime::sources;

/// The sources of one Python component, as its instances receive them.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The component's folder as its author knows it (`components/db`):
    /// tracebacks show `components/db/component.py:16`.
    pub origin: String,
    /// The files, by path relative to the folder (`/`-separated), sorted.
    pub files: Vec<(String, Vec<u8>)>,
    /// The file that stands for the component in messages and in the
    /// engine's package list (`components/db/component.py`, or the package
    /// file a pinned component came from).
    pub path: PathBuf,
}

pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<State>,
) -> wasmtime::Result<()> {
    sources::add_to_linker::<State, wasmtime::component::HasSelf<State>>(linker, |state| state)
}

impl sources::Host for State {
    fn origin(&mut self) -> String {
        self.sources
            .as_ref()
            .map(|s| s.origin.clone())
            .unwrap_or_default()
    }

    fn files(&mut self) -> Vec<sources::SourceFile> {
        let Some(sources) = self.sources.as_ref() else {
            return Vec::new();
        };
        sources
            .files
            .iter()
            .map(|(path, content)| sources::SourceFile {
                path: path.clone(),
                content: content.clone(),
            })
            .collect()
    }
}

pub(crate) type Shared = Arc<Sources>;
