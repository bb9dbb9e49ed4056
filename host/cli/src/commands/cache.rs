//! `berth cache info` and `berth cache prune`.

use crate::cli::CacheCommand;
use berth_runtime::evict;
use std::process::ExitCode;

pub fn run(action: CacheCommand) -> anyhow::Result<ExitCode> {
    let dir = berth_runtime::default_cache_dir().ok_or_else(|| {
        anyhow::anyhow!("berth has no compile cache: set `BERTH_CACHE_DIR` or `HOME`")
    })?;
    let cap = evict::max_size().map_err(|e| anyhow::anyhow!(e))?;
    match action {
        CacheCommand::Info => {
            let info = evict::info(&dir)
                .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", dir.display()))?;
            println!("cache    {}", info.dir.display());
            println!(
                "entries  {} compiled component{}",
                info.entries,
                if info.entries == 1 { "" } else { "s" }
            );
            println!("size     {}", evict::format_size(info.bytes));
            println!(
                "cap      {} (`{}`; least recently used entries go first)",
                evict::format_size(cap),
                evict::MAX_SIZE_VAR
            );
        }
        CacheCommand::Prune { max_size } => {
            let max = match max_size {
                Some(text) => evict::parse_size(&text).map_err(|e| anyhow::anyhow!(e))?,
                None => cap,
            };
            let pruned = evict::prune(&dir, max)
                .map_err(|e| anyhow::anyhow!("cannot prune `{}`: {e}", dir.display()))?;
            println!(
                "removed {} entr{} ({}); {} left ({}) in {}",
                pruned.removed,
                if pruned.removed == 1 { "y" } else { "ies" },
                evict::format_size(pruned.freed),
                pruned.left.entries,
                evict::format_size(pruned.left.bytes),
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
