//! The command line, as clap parses it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Deploy services made of sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The deployment repository (default: the nearest folder upwards with
    /// an `environments/` folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// When to color the output (`auto`: on a terminal, unless `NO_COLOR`
    /// is set; `CLICOLOR_FORCE` forces it).
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Print only warnings, failures and errors (for cron).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable output with diffs.
    Human,
    /// One JSON object per line (see docs/events.md).
    Json,
}

/// When to color the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set (`CLICOLOR_FORCE` forces it).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an environment: configure, verify and update every component.
    Deploy {
        /// Verify only: show what would change, with diffs, and change nothing.
        #[arg(short, long)]
        predict: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Show debug output: component debug logs, build output, timings.
        #[arg(short, long)]
        debug: bool,
        /// Deploy up to N hosts at once (default: `jobs` in [environment], else 4).
        #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Deploy every host as if it had this platform (overrides the
        /// host's and the environment's `platform`).
        #[arg(long, value_name = "NAME")]
        platform: Option<String>,
        /// Take over the deploy lock of the targets, also one that another
        /// deploy holds (see docs/remote.md).
        #[arg(long)]
        break_lock: bool,
        #[command(flatten)]
        load: Load,
    },
    /// Run as the agent on a target: read a host's plan on stdin, deploy
    /// it, and stream events on stdout. The controller starts it over SSH;
    /// it is not meant to be run by hand.
    #[command(hide = true)]
    Agent,
    /// Check an environment: resolve and configure it, change nothing.
    ///
    /// Loads the environment and its components, resolves the model and
    /// runs configure until provide/require settles; reports every problem
    /// and the deploy order. Exit status 0 when it checks, 2 when not.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Show debug output: component debug logs, build output, timings.
        #[arg(short, long)]
        debug: bool,
        #[command(flatten)]
        load: Load,
    },
    /// Show the resolved model: values and their sources, order, edges.
    ///
    /// Prints each host, each component's attribute values and where they
    /// came from, its features and grants, the deploy order and the
    /// provide/require connections. Changes nothing.
    Show {
        /// Only this host.
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Only this component.
        #[arg(long, value_name = "COMPONENT")]
        component: Option<String>,
        /// Output format (`json`: one JSON object).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        load: Load,
    },
    /// Edit, show and re-encrypt an environment's age-encrypted secrets;
    /// manage who may read them.
    Secrets {
        #[command(subcommand)]
        action: SecretsCommand,
    },
    /// Build every component in `components/` from source into `.berth/build/`.
    Build {
        /// Show the compiler's output.
        #[arg(short, long)]
        debug: bool,
    },
    /// Create something new in the repository: `berth new component NAME`.
    New {
        #[command(subcommand)]
        what: New,
    },
    /// Show what a component file contains: name, API version, attributes,
    /// requested capabilities.
    Inspect {
        /// The `.wasm` file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Write a component of `components/` as one package file,
    /// `dist/<name>-<version>.wasm`, with its metadata and data files.
    ///
    /// Other repositories take it from a find-links folder of their
    /// `packages.cfg` and pin its sha256 with `berth lock`.
    Package {
        /// The package: a folder of `components/`.
        name: String,
        /// The folder to write to (default: `dist/` in the repository).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Do not build a source component that is missing or stale.
        #[arg(long)]
        no_build: bool,
    },
    /// Pin every package of `packages.cfg` to its file's sha256 in
    /// `packages.lock`, and print what changed.
    Lock,
    /// Create a deployment repository in DIR (default: the current folder):
    /// `environments/local/`, `components/` and a `.gitignore`.
    ///
    /// `berth new component NAME` and `berth deploy local` work in it at
    /// once.
    Init {
        /// The folder; created when missing.
        dir: Option<PathBuf>,
    },
    /// Show or trim the compile cache (`$BERTH_CACHE_DIR`, else
    /// `~/.cache/berth`).
    Cache {
        #[command(subcommand)]
        action: CacheCommand,
    },
    /// Print a shell completion script: `berth completions bash >
    /// /etc/bash_completion.d/berth`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print berth's man page (roff): `berth man > berth.1`.
    Man,
}

/// What to do with the compile cache.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Where the cache is, how many entries it holds and their size.
    Info,
    /// Remove the least recently used entries until the cache fits SIZE.
    Prune {
        /// The size to fit, like `500M` or `2G` (default: the cap,
        /// `$BERTH_CACHE_MAX_SIZE`, else 1G); `0` empties the cache.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
    },
}

/// The environment to load, and how: shared by `deploy`, `check` and `show`.
#[derive(Debug, Args)]
pub struct Load {
    /// The environment (a folder or file in `environments/`).
    pub environment: String,
    /// Do not build source components that are missing or stale.
    #[arg(long)]
    pub no_build: bool,
    #[command(flatten)]
    pub identities: Identities,
}

/// The age identities that decrypt an environment's secrets.
#[derive(Debug, Args)]
pub struct Identities {
    /// An age identity file or SSH private key that decrypts the
    /// environment's secrets (repeatable; default: `$BERTH_AGE_IDENTITY`,
    /// else `~/.config/berth/age/keys.txt`, `~/.ssh/id_ed25519` and
    /// `~/.ssh/id_rsa`).
    #[arg(long = "identity", value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

/// What to do with secrets.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Decrypt `environments/ENV/secrets.cfg.age` (or the secret file
    /// `secret-FILE.age`) into a private temporary file, open it in
    /// `$VISUAL`/`$EDITOR`, check it and encrypt it again to its recipients
    /// (`[batou] members`, else `secrets.recipients`). When encryption
    /// fails, the edit is kept and the next `edit` continues from it.
    Edit {
        /// The environment (a folder or file in `environments/`).
        environment: String,
        /// A secret file to edit instead: `tls.key` for `secret-tls.key.age`.
        file: Option<String>,
        #[command(flatten)]
        identities: Identities,
    },
    /// Print the decrypted secrets with every value masked, and list the
    /// secret files.
    Show {
        /// The environment.
        environment: String,
        /// Print the values too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        identities: Identities,
    },
    /// Add a recipient (an `age1…` key or an SSH public key) and encrypt
    /// every secrets file and secret file again.
    Add {
        /// The public key.
        recipient: String,
        /// Only these environments (repeatable; default: every environment
        /// with secrets).
        #[arg(long = "env", value_name = "ENV")]
        environments: Vec<String>,
        #[command(flatten)]
        identities: Identities,
    },
    /// Remove a recipient and encrypt every secrets file and secret file
    /// again (what they decrypted before stays known to them: rotate).
    Remove {
        /// The public key, as listed.
        recipient: String,
        /// Only these environments (repeatable; default: every environment
        /// with secrets).
        #[arg(long = "env", value_name = "ENV")]
        environments: Vec<String>,
        #[command(flatten)]
        identities: Identities,
    },
    /// Encrypt every secrets file and secret file again to its recipients.
    Reencrypt {
        /// Only these environments (repeatable; default: every environment
        /// with secrets).
        #[arg(long = "env", value_name = "ENV")]
        environments: Vec<String>,
        #[command(flatten)]
        identities: Identities,
    },
    /// Per environment: its recipients, its secret files, and whether you
    /// can decrypt them.
    Summary {
        #[command(flatten)]
        identities: Identities,
    },
    /// Print the decrypted content of an age file, for `git diff` (see
    /// `docs/secrets.md`).
    Textconv {
        /// The encrypted file.
        file: PathBuf,
        #[command(flatten)]
        identities: Identities,
    },
    /// Convert an environment's GPG-encrypted secrets (batou's
    /// `secrets.cfg.gpg`, `secret-*.gpg`) to age, with `gpg -d`.
    Migrate {
        /// The environment.
        environment: String,
        #[command(flatten)]
        identities: Identities,
    },
}

/// What `berth new` creates.
#[derive(Debug, Subcommand)]
pub enum New {
    /// A component package `components/NAME/` that builds and deploys as it
    /// is: it renders `NAME.conf` into its workdir from its attributes, and
    /// its README states its attributes and capabilities.
    Component {
        /// Its name: lowercase letters, digits, `-` and `_`, starting with a
        /// letter.
        name: String,
        /// The language it is written in.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
    },
}

/// The language of a new component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A crate of the cargo workspace `components/`, with berth's Rust SDK.
    Rust,
    /// A folder with a `component.py`, with berth's Python SDK.
    Python,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deploy_parses_its_flags() {
        let cli =
            Cli::try_parse_from(["berth", "deploy", "local", "--predict", "--format", "json"])
                .expect("valid arguments");
        match cli.command {
            Command::Deploy {
                load,
                predict,
                format,
                ..
            } => {
                assert_eq!(load.environment, "local");
                assert!(predict);
                assert_eq!(format, Format::Json);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn new_component_takes_a_name_and_a_language() {
        let cli = Cli::try_parse_from(["berth", "new", "component", "web", "--lang", "python"])
            .expect("valid arguments");
        match cli.command {
            Command::New {
                what: New::Component { name, lang },
            } => {
                assert_eq!(name, "web");
                assert_eq!(lang, Lang::Python);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["berth", "new", "component", "web", "--lang", "go"]).is_err());
    }

    #[test]
    fn show_parses_its_filters() {
        let cli = Cli::try_parse_from([
            "berth",
            "show",
            "local",
            "--host",
            "localhost",
            "--component",
            "motd",
        ])
        .expect("valid arguments");
        match cli.command {
            Command::Show {
                load,
                host,
                component,
                format,
                ..
            } => {
                assert_eq!(load.environment, "local");
                assert_eq!(host.as_deref(), Some("localhost"));
                assert_eq!(component.as_deref(), Some("motd"));
                assert_eq!(format, Format::Human);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
