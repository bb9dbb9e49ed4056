//! `database`: writes a database server's configuration and provides its
//! address to the other components of the environment.

use berth_sdk::{Attribute, Component, Configure, File, Result};
use serde::Serialize;

/// What `database` provides under the key `database`; `app` reads the same
/// shape.
#[derive(Serialize)]
struct Address {
    host: String,
    port: u16,
}

/// Writes `database.conf` and provides `database`.
struct Database;

impl Component for Database {
    const NAME: &'static str = "database";
    const DOC: &'static str = "Writes `database.conf` (the IPv4 addresses of the host's fqdn, \
         resolved through the environment's [resolver] or DNS, and the port) and provides its \
         address as `database`: `{\"host\": <host fqdn>, \"port\": <port>}`.";

    fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::int("port")
                .default(5432)
                .doc("The port the database listens on."),
            Attribute::string("name")
                .default("app")
                .doc("The database's name."),
        ]
    }

    fn configure(cx: &mut Configure) -> Result<()> {
        let port: u16 = cx.attribute("port")?;
        let name: String = cx.attribute("name")?;
        let host = cx.host();
        // As batou's `Address(self.host.fqdn, port)`: clients connect to the
        // name, the server listens on what it resolves to.
        let address = cx.resolve(&format!("{}:{port}", host.fqdn))?;
        cx.provide(
            "database",
            &Address {
                host: host.fqdn.clone(),
                port,
            },
        )?;
        cx.add(
            File::new("database.conf")
                .text(format!(
                    "# Written by berth's example component `database`.\n\
                     listen_addresses = '{}'\nport = {port}\ndatabase = '{name}'\n",
                    address.ipv4.join(", ")
                ))
                .mode(0o644)
                .label("database configuration"),
        );
        Ok(())
    }
}

berth_sdk::export!(Database);
