//! A guest that imports WASI and reports what WASI context it was given.
//!
//! Besides the berth world (through the SDK) it imports
//! `wasi:cli/environment@0.2.0` and `wasi:filesystem/preopens@0.2.0`, bound
//! here by a second `wit_bindgen::generate!` from `wit/`. Its configure calls
//! them, logs a line at info level, and writes what it saw to `wasi.json` in
//! its workdir:
//!
//! ```json
//! {"env": [["KEY", "value"], ...], "args": ["..."], "cwd": "..." or null,
//!  "preopens": ["..."]}
//! ```
//!
//! berth gives every component an empty WASI context, so all four are empty.

use berth_sdk::{Component, Configure, File, Result, log};

#[allow(missing_docs, clippy::all)]
mod wasi {
    wit_bindgen::generate!({
        path: "wit",
        world: "berth-test:wasi-env/wasi-env",
        // wit-bindgen wants WASI interfaces mapped to an existing crate
        // (`wasip2`) unless told to generate them; generate them here.
        generate_all,
    });
}

use wasi::wasi::cli::environment;
use wasi::wasi::filesystem::preopens;

/// Reports its WASI environment, arguments, cwd and preopens.
struct WasiEnv;

impl Component for WasiEnv {
    const NAME: &'static str = "wasi-env";
    const DOC: &'static str =
        "Test guest: reports the WASI environment, arguments, cwd and preopens it sees.";

    fn configure(cx: &mut Configure) -> Result<()> {
        let env = environment::get_environment();
        let args = environment::get_arguments();
        let cwd = environment::initial_cwd();
        // Dropping a descriptor hands it back to the host.
        let preopens: Vec<String> = preopens::get_directories()
            .into_iter()
            .map(|(_, path)| path)
            .collect();
        log::info!(
            "wasi: {} environment variables, {} arguments, cwd {cwd:?}, {} preopens",
            env.len(),
            args.len(),
            preopens.len()
        );
        let report = serde_json::json!({
            "env": env,
            "args": args,
            "cwd": cwd,
            "preopens": preopens,
        });
        cx.add(File::new("wasi.json").text(format!("{report:#}\n")));
        Ok(())
    }
}

berth_sdk::export!(WasiEnv);
