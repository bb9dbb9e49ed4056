//! A guest that checks what configure may and may not call.
//!
//! Its configure tries `fs::read` and `process::Command::run` (both must be
//! refused: configure is pure), provides `calls-value` and requires it back
//! strictly. It fails when a refused call was allowed, and otherwise writes
//! what it saw to `calls.json` in its workdir:
//!
//! ```json
//! {"read": "<the host's error>", "run": "<the host's error>",
//!  "required": [{"host": "...", "component": "calls", "value": {...}}]}
//! ```
//!
//! It also logs each refusal at info level.

use berth_sdk::process::Command;
use berth_sdk::{Component, Configure, Error, File, Provided, Require, Result, fs, log};

/// Calls the imports configure may not use, and provide/require.
struct Calls;

impl Component for Calls {
    const NAME: &'static str = "calls";
    const DOC: &'static str =
        "Test guest: configure tries fs and process (must be refused) and uses provide/require.";

    fn configure(cx: &mut Configure) -> Result<()> {
        let read = match fs::read("calls.txt") {
            Ok(_) => return Err(Error::failed("`fs::read` was allowed in configure")),
            Err(e) => refused("fs::read", e),
        };
        let run = match Command::new("true").run() {
            Ok(_) => return Err(Error::failed("`process::run` was allowed in configure")),
            Err(e) => refused("process::run", e),
        };
        let host = cx.host();
        cx.provide(
            "calls-value",
            &serde_json::json!({ "from": host.name, "answer": 42 }),
        )?;
        let required: Vec<Provided<serde_json::Value>> =
            cx.require("calls-value", Require::new().strict(true))?;
        let report = serde_json::json!({ "read": read, "run": run, "required": required });
        cx.add(File::new("calls.json").text(format!("{report:#}\n")));
        Ok(())
    }
}

/// The refusal as `kind: message`, logged.
fn refused(call: &str, e: Error) -> String {
    let seen = format!("{}: {}", e.kind(), e.message());
    log::info!("configure `{call}` refused: {seen}");
    seen
}

berth_sdk::export!(Calls);
