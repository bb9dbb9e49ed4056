//! `hello`: plain files, no templates and no extra capabilities.

use berth_sdk::{Attribute, Component, Configure, Directory, File, Result};

/// Writes a greeting and a copy of `banner.txt` into `hello/` in the workdir.
struct Hello;

impl Component for Hello {
    const NAME: &'static str = "hello";
    const DOC: &'static str =
        "Writes `hello/hello.txt` (a greeting) and `hello/banner.txt` (copied from the defdir).";

    fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::string("greeting")
                .default("Hello")
                .doc("The first word of `hello.txt`."),
        ]
    }

    fn configure(cx: &mut Configure) -> Result<()> {
        let greeting: String = cx.attribute("greeting")?;
        let host = cx.host();
        // Steps run in order, and a step's children run before the step
        // itself: so the directory is a sibling that comes first, not the
        // files' parent.
        cx.add(Directory::new("hello"));
        cx.add(
            File::new("hello/hello.txt")
                .text(format!("{greeting} from {}!\n", host.name))
                .mode(0o644),
        );
        cx.add(File::new("hello/banner.txt").source("banner.txt"));
        Ok(())
    }
}

berth_sdk::export!(Hello);
