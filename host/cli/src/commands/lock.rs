//! `berth lock`.

use berth_config::Pin;
use berth_engine::pins::Change;
use berth_engine::repo::Repository;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(repo: PathBuf) -> anyhow::Result<ExitCode> {
    let opened = Repository::open(&repo)?;
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
