//! A guest that handles a secret the way careless code does, so that tests
//! can check that berth masks it everywhere while the component still gets
//! the real value.
//!
//! Attributes: `password` (string) and `fail` (bool). Configure adds
//!
//! - `app.conf`, a template that writes `password = {{ attributes.password }}`
//!   (no mode: berth must choose `0600`);
//! - `tls.key`, the environment's secret file `tls.key` (`File::secret`);
//! - a custom step `login` whose verify logs the password at info and debug
//!   level and, when `fail` is set, fails with an error that quotes it.

use berth_sdk::{Attribute, Component, Configure, Custom, CustomStep, Error, File, Result, StepContext, Verdict, log};

struct Secretive;

impl Component for Secretive {
    const NAME: &'static str = "secretive";
    const DOC: &'static str = "Test guest: logs and fails with its secret password.";

    fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::string("password").default("none").doc("A secret."),
            Attribute::bool("fail").default(false).doc("Fail in verify, quoting the password."),
        ]
    }

    fn configure(cx: &mut Configure) -> Result<()> {
        let password: String = cx.attribute("password")?;
        let fail: bool = cx.attribute("fail")?;
        cx.add(File::new("app.conf").template_str("user = app\npassword = {{ attributes.password }}\n"));
        cx.add(File::new("tls.key").secret("tls.key"));
        cx.add(
            Custom::new("login")
                .data(&serde_json::json!({ "password": password, "fail": fail }))
                .label("login"),
        );
        Ok(())
    }

    fn verify(step: &CustomStep, _cx: &StepContext) -> Result<Verdict> {
        let data: serde_json::Value = step.data()?;
        let password = data["password"].as_str().unwrap_or_default();
        log::info(format!("logging in with password {password}"));
        log::debug(format!("debug: the password is {password}"));
        if data["fail"].as_bool() == Some(true) {
            return Err(Error::failed(format!("login refused for password {password}")));
        }
        Ok(Verdict::UpToDate)
    }
}

berth_sdk::export!(Secretive);
