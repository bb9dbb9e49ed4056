//! What a component needs beyond its default grant.

use crate::__private::bindings::berth::component::types as wit;

/// How a component wants to use a path outside its workdir and defdir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read files, list directories, stat.
    Read,
    /// Read, and also create, replace and remove.
    ReadWrite,
}

/// What a root component needs beyond its workdir (read-write) and defdir
/// (read-only). The environment must grant all of it, or berth stops before
/// changing anything and prints the lines to add.
///
/// ```
/// use berth_sdk::{Access, Needs};
///
/// let needs = Needs::new()
///     .path("/etc/nginx", Access::ReadWrite)
///     .command("nginx")
///     .command("systemctl");
/// # let _ = needs;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    paths: Vec<(String, Access)>,
    commands: Vec<String>,
}

impl Needs {
    /// Nothing beyond the default grant.
    pub fn new() -> Self {
        Self::default()
    }

    /// An absolute path on the target, with the access needed there.
    pub fn path(mut self, path: impl Into<String>, access: Access) -> Self {
        self.paths.push((path.into(), access));
        self
    }

    /// A program, by name (looked up on the target's system path) or by
    /// absolute path.
    pub fn command(mut self, program: impl Into<String>) -> Self {
        self.commands.push(program.into());
        self
    }

    pub(crate) fn to_wit(&self) -> wit::Needs {
        wit::Needs {
            paths: self
                .paths
                .iter()
                .map(|(path, access)| wit::PathNeed {
                    path: path.clone(),
                    access: match access {
                        Access::Read => wit::Access::Read,
                        Access::ReadWrite => wit::Access::ReadWrite,
                    },
                })
                .collect(),
            commands: self.commands.clone(),
        }
    }
}
