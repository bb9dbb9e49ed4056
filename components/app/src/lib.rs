//! `app`: an application whose configuration points at the database of the
//! environment, found through provide/require.

use berth_sdk::{Component, Configure, Error, File, Require, Result};
use serde::{Deserialize, Serialize};

/// What `database` provides under the key `database`.
#[derive(Deserialize, Serialize)]
struct Address {
    host: String,
    port: u16,
}

/// Renders `app.conf` from `app.conf.j2` and the database's address.
struct App;

impl Component for App {
    const NAME: &'static str = "app";
    const DOC: &'static str = "Renders `app.conf` from the template `app.conf.j2` with the \
         address the `database` component provides (required strictly: berth deploys the \
         database first, and fails the deployment when no host has one).";

    fn configure(cx: &mut Configure) -> Result<()> {
        let databases = cx.require::<Address>("database", Require::new().strict(true))?;
        // berth calls configure again while provided values change: in the
        // first round nothing is provided yet, so an empty answer is not an
        // error here (the strict require makes it one if it stays empty).
        let Some(database) = databases.first() else {
            return Ok(());
        };
        if databases.len() > 1 {
            let where_: Vec<String> = databases.iter().map(|d| d.host.clone()).collect();
            return Err(Error::invalid(format!(
                "`app` needs exactly one database, but {} provide one",
                where_.join(", ")
            )));
        }
        let host = cx.host();
        cx.add(
            File::new("app.conf")
                .template("app.conf.j2")
                .context(serde_json::json!({
                    "database": database.value,
                    "database_host": database.host,
                    "url": format!("postgresql://{}:{}/app", database.value.host, database.value.port),
                    "listen": format!("{}:8000", host.fqdn),
                }))
                .mode(0o644)
                .label("application configuration"),
        );
        Ok(())
    }
}

berth_sdk::export!(App);
