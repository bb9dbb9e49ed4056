//! A guest whose configure never returns: the host's deadline must stop it.

use berth_sdk::{Component, Configure, Result};

/// Loops forever in configure.
struct Spin;

impl Component for Spin {
    const NAME: &'static str = "spin";
    const DOC: &'static str = "Test guest: configure loops forever.";

    fn configure(_cx: &mut Configure) -> Result<()> {
        loop {
            core::hint::black_box(());
        }
    }
}

berth_sdk::export!(Spin);
