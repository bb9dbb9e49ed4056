//! A guest whose `describe` never returns: loading the package must stop
//! at the environment's deadline, and only the roots of this package fail.

use berth_sdk::{Attribute, Component, Configure, Result};

/// Loops forever while listing its attributes, which `describe` does.
struct SpinDescribe;

impl Component for SpinDescribe {
    const NAME: &'static str = "spin-describe";
    const DOC: &'static str = "Test guest: describe loops forever.";

    fn attributes() -> Vec<Attribute> {
        loop {
            core::hint::black_box(());
        }
    }

    fn configure(_cx: &mut Configure) -> Result<()> {
        Ok(())
    }
}

berth_sdk::export!(SpinDescribe);
