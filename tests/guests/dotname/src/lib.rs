//! A guest whose `describe` names a root `.`: its workdir would be `work/`
//! itself, with every other component's workdir in it. The host must refuse
//! the name before anything runs.

use berth_sdk::{Component, Configure, File, Result};

/// A root named `.`.
struct Dot;

impl Component for Dot {
    const NAME: &'static str = ".";
    const DOC: &'static str = "Test guest: a root component named `.`.";

    fn configure(cx: &mut Configure) -> Result<()> {
        cx.add(File::new("owned").text("a file in work/ itself\n"));
        Ok(())
    }
}

berth_sdk::export!(Dot);
