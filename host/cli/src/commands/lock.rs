//! `berth lock`.

use berth_config::Pin;
use berth_engine::pins::Change;
use berth_engine::repo::Repository;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(repo: PathBuf) -> anyhow::Result<ExitCode> {
    let opened = Repository::open(&repo)?;
    // Without either file there is nothing to pin, and an empty lock file
    // would only hide the mistake (a misnamed or misplaced packages.cfg).
    let base = if repo == std::path::Path::new(".") {
        PathBuf::new()
    } else {
        repo.clone()
    };
    let (config, lock) = (
        base.join(berth_config::PACKAGES_FILE),
        base.join(berth_config::LOCK_FILE),
    );
    if !config.exists() && !lock.exists() {
        anyhow::bail!(
            "there is no `{}`, so there is nothing to lock; create it with a `[packages]` section \
             (`find-links = packages/`, see docs/packages.md) and run `berth lock` again",
            config.display()
        );
    }
    let locked = berth_engine::pins::lock(&opened, &repo)?;
    let (mut added, mut changed, mut removed, mut unchanged) = (0, 0, 0, 0);
    for change in &locked.changes {
        match change {
            Change::Added(pin) => {
                added += 1;
                println!("added    {}", pin_line(pin));
            }
            Change::Changed { old, new } => {
                changed += 1;
                println!("changed  {}\n      to {}", pin_line(old), pin_line(new));
            }
            Change::Removed(pin) => {
                removed += 1;
                println!("removed  {}", pin_line(pin));
            }
            Change::Unchanged(_) => unchanged += 1,
        }
    }
    println!(
        "{}: {added} added, {changed} changed, {removed} removed, {unchanged} unchanged",
        locked.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn pin_line(pin: &Pin) -> String {
    format!(
        "{} {}  {}  sha256 {}",
        pin.name,
        pin.version,
        pin.file.display(),
        pin.sha256
    )
}
