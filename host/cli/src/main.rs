//! The `berth` command: deploy sandboxed WebAssembly components.

fn main() -> std::process::ExitCode {
    berth::run()
}
