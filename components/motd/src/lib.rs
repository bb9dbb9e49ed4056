//! `motd`: a message of the day rendered by berth from a minijinja template.

use berth_sdk::{Attribute, Component, Configure, File, Result};

/// Renders `motd.j2` from this folder into `motd` in the workdir.
struct Motd;

impl Component for Motd {
    const NAME: &'static str = "motd";
    const DOC: &'static str = "Renders a message of the day (`motd`, mode 0644) from the template \
         `motd.j2`, the component's attributes and the host's name and `data-role`.";

    fn attributes() -> Vec<Attribute> {
        vec![
            Attribute::string("greeting")
                .default("Welcome")
                .doc("The first line's greeting."),
            Attribute::list("admins")
                .default(Vec::<String>::new())
                .doc("Names of the people to contact about this host."),
            Attribute::int("port")
                .default(8080)
                .doc("The port the host's service listens on."),
        ]
    }

    fn configure(cx: &mut Configure) -> Result<()> {
        // Read the attributes here too, so that an override of the wrong type
        // fails in configure, naming the attribute, before anything changes.
        let admins: Vec<String> = cx.attribute("admins")?;
        let port: u16 = cx.attribute("port")?;
        let host = cx.host();
        cx.add(
            File::new("motd")
                .template("motd.j2")
                .context(serde_json::json!({
                    "admin_count": admins.len(),
                    "url": format!("http://{}:{port}/", host.fqdn),
                }))
                .mode(0o644)
                .label("message of the day"),
        );
        Ok(())
    }
}

berth_sdk::export!(Motd);
