//! What a hostile component or a careless operator gives berth (issue 10),
//! shared by the engine's tests (`tests/tests/all/limits.rs`) and the
//! `berth` binary's (`host/cli/tests/cli/limits.rs`) of the same cases.

use crate::{HELLO, PROBE, TestRepo};
use std::path::Path;

/// A repository where the `probe` root `root` makes the calls `probes`,
/// with what the root declares granted, the example `hello` beside it,
/// and `timeout` in `[environment]`.
pub fn probes(root: &str, probes: serde_json::Value, timeout: u32) -> TestRepo {
    let repo = TestRepo::new();
    repo.component("probe", PROBE).example("hello", HELLO);
    let grants = match root {
        "probe-granted" => {
            "[grants:probe-granted]\npaths = /tmp rw\ncommands = cat true false sleep\n"
        }
        "probe-daemon" => "[grants:probe-daemon]\ncommands = bash sleep setsid head cat touch\n",
        _ => "",
    };
    repo.env(
        "local",
        &format!(
            "[environment]\nconnect_method = local\ntimeout = {timeout}\n\n[hosts]\nlocalhost = {root}, hello\n\n[component:{root}]\nprobes = {}\n\n{grants}",
            serde_json::to_string(&probes).unwrap()
        ),
    );
    repo
}

/// Whether `hello`, the root beside the hostile one, deployed.
pub fn hello_deployed(repo: &TestRepo) -> bool {
    repo.workdir("hello").join("hello/hello.txt").exists()
}

/// Probes for `probe-daemon`: a step whose program leaves `sleep` holding
/// its output pipe, and one that starts a `setsid` daemon writing `tick`
/// into the workdir. `marker` is in the command line of every process
/// they start ([`running`]).
pub fn daemon_probes(marker: &str) -> serde_json::Value {
    serde_json::json!([
        {"op": "run", "label": "background", "argv": ["bash", "-c", format!("sleep {marker} & echo started")]},
        {"op": "run", "label": "daemon", "argv": ["bash", "-c", format!(
            "setsid bash -c 'exec >/dev/null 2>&1 </dev/null; (while :; do touch tick; sleep 0.05; sleep {marker}; done) &'; echo started"
        )]},
    ])
}

/// Whether a process whose command line holds `marker` runs.
pub fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
    })
}

/// Whether something still writes `tick` in `workdir` (the daemon of
/// [`daemon_probes`]).
pub fn still_ticking(workdir: &Path) -> bool {
    let tick = workdir.join("tick");
    let _ = std::fs::remove_file(&tick);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tick.exists()
}

/// `probe-granted` runs `cat /dev/zero` in the step `zeros`: it writes
/// until it is killed.
pub fn zeros() -> serde_json::Value {
    serde_json::json!([{"op": "run", "argv": ["cat", "/dev/zero"], "label": "zeros"}])
}

/// `probe-daemon` runs a program that writes 3 GB to stdout and exits, in
/// the step `flood`.
pub fn flood() -> serde_json::Value {
    serde_json::json!([{"op": "run", "label": "flood", "argv": ["head", "-c", "3000000000", "/dev/zero"]}])
}

/// A chain of `depth` nested steps.
pub fn tree(depth: u32) -> serde_json::Value {
    serde_json::json!([{"op": "tree", "depth": depth}])
}

/// Templates that never end or need more memory than berth gives them, as
/// probes of a File step `hostile` of `probe`, each with the text its
/// error must hold.
pub fn templates() -> [(serde_json::Value, &'static str); 2] {
    let probe = |body: String| {
        serde_json::json!([{"op": "template", "path": "out", "content": body, "label": "hostile"}])
    };
    [
        (
            probe(NESTED_LOOPS.to_owned()),
            "the template ran out of fuel",
        ),
        (
            probe(doubling_template()),
            "rendering needed more than the memory limit of 256 MiB",
        ),
    ]
}

/// A template that never ends: ten billion loop iterations.
pub const NESTED_LOOPS: &str =
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";

/// A template that doubles a string forty times: 16 × 2^40 bytes, in forty
/// instructions.
pub fn doubling_template() -> String {
    format!(
        "{{% set s = \"0123456789abcdef\" %}}{}{{{{ s|length }}}}",
        "{% set s = s ~ s %}".repeat(40)
    )
}

/// Makes a FIFO at `path`, which no one writes to.
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

/// Makes a sparse file of 64 GiB at `path`.
pub fn sparse_64_gib(path: &Path) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
}

/// A repository whose package `spin-describe` (the guest `SPIN_DESCRIBE`,
/// at `wasm`) loops in `describe`, with `hello` beside it, in environment
/// `local` with a `timeout` of 2 s.
pub fn looping_describe(wasm: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.component("spin-describe", wasm)
        .example("hello", HELLO)
        .env(
            "local",
            "[environment]\nconnect_method = local\ntimeout = 2\n\n[hosts]\nlocalhost = spin-describe, hello\n",
        );
    repo
}
