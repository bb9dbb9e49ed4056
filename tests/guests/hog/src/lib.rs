//! A guest whose configure allocates without bound: the host's memory cap
//! must stop it.

use berth_sdk::{Component, Configure, Result};

/// Allocates 1 MiB blocks forever in configure, touching every page.
struct Hog;

impl Component for Hog {
    const NAME: &'static str = "hog";
    const DOC: &'static str = "Test guest: configure allocates memory without bound.";

    fn configure(_cx: &mut Configure) -> Result<()> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            for page in block.iter_mut().step_by(4096) {
                *page = 1;
            }
            blocks.push(core::hint::black_box(block));
        }
    }
}

berth_sdk::export!(Hog);
