//! Templates a hostile component writes end with an error of their step,
//! within their deadline, and leave berth's memory as it was.

use std::time::{Duration, Instant};

use berth_resources::{Content, File, Resource, ResourceError, TemplateBody, verify};

use crate::Env;

fn inline(path: &str, body: &str) -> Resource {
    Resource::File(File {
        path: path.into(),
        content: Content::Template {
            body: TemplateBody::Inline(body.into()),
            context: serde_json::json!({}),
        },
        mode: None,
        leading: false,
    })
}

fn message(env: &Env, r: &Resource) -> String {
    match verify(r, &env.cx(), false).unwrap_err() {
        ResourceError::Template { message, .. } => message,
        other => panic!("not a template error: {other}"),
    }
}

/// The peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_string_doubled_forty_times_runs_out_of_memory_in_the_renderer() {
    let env = Env::new();
    let before = peak_rss_kib();
    // Forty instructions, 2^40 bytes: fuel does not stop it, the renderer's
    // memory limit does.
    let body = format!(
        "{{% set s = \"0123456789abcdef\" %}}{}{{{{ s|length }}}}",
        "{% set s = s ~ s %}".repeat(40)
    );
    let start = Instant::now();
    let msg = message(&env, &inline("doubled", &body));
    assert!(
        msg.contains("rendering needed more than the memory limit of 256 MiB"),
        "{msg}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // berth itself grew by far less than what the template asked for.
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "berth grew by {grown} KiB");

    // The next template of the component renders in a new renderer.
    assert!(verify(&inline("fine", "ok\n"), &env.cx(), false).is_ok());
}

#[test]
fn nested_loops_run_out_of_fuel() {
    let env = Env::new();
    let body = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    let msg = message(&env, &inline("loops", body));
    assert!(msg.contains("ran out of fuel"), "{msg}");
}

#[test]
fn a_template_that_renders_too_much_is_cut_short() {
    let env = Env::new();
    let body = "{% for i in range(100000) %}{{ \"x\" * 1000 }}{% endfor %}";
    let msg = message(&env, &inline("big", body));
    assert!(msg.contains("the rendered text exceeds 64 MiB"), "{msg}");
}

#[test]
fn a_template_that_outlives_the_deadline_is_stopped() {
    let env = Env::new();
    let mut cx = env.cx();
    cx.timeout = Duration::from_millis(300);
    // Within its fuel, but slow: sorting big lists again and again.
    let body = "{% for i in range(2000) %}{{ range(100000)|list|sort|length }}{% endfor %}";
    let start = Instant::now();
    let err = verify(&inline("slow", body), &cx, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("rendering did not finish within the step's deadline of 300ms"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
