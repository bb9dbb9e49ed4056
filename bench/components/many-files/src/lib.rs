//! `many-files`: renders `count` files from one template, the workload of
//! berth's deploy benchmark (see `bench/README.md`).

use berth_sdk::{Attribute, Component, Configure, Directory, File, Result};

struct ManyFiles;

impl Component for ManyFiles {
    const NAME: &'static str = "many-files";
    const DOC: &'static str = "Renders `files/file-NNNN.conf` from `file.j2`, `count` times.";

    fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::int("count")
                .default(200)
                .doc("How many files to render."),
            Attribute::string("address")
                .default("127.0.0.1")
                .doc("Rendered into every file."),
            Attribute::list("tags")
                .default(vec!["bench", "berth"])
                .doc("Rendered into every file, one line each."),
        ]
    }

    fn configure(cx: &mut Configure) -> Result<()> {
        let count: u32 = cx.attribute("count")?;
        cx.add(Directory::new("files"));
        for index in 0..count {
            cx.add(
                File::new(format!("files/file-{index:04}.conf"))
                    .template("file.j2")
                    .context(serde_json::json!({ "index": index })),
            );
        }
        Ok(())
    }
}

berth_sdk::export!(ManyFiles);
