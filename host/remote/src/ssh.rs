//! The controller's side of a remote deploy: one OpenSSH master connection
//! per host (the system client through the `openssh` crate's native mux
//! protocol), so that every command, the SFTP uploads and the agent share
//! it.
//!
//! Opening a host takes one round trip to learn its architecture and what
//! its store holds, at most one SFTP session and one command to upload and
//! commit what is missing, then the agent, whose handshake takes the deploy
//! lock. The destination is the host's fqdn; `~/.ssh/config` applies, or
//! the project's `ssh_config_<env>` / `ssh_config` given with `-F`, as
//! batou does. Host keys are checked strictly: an unknown or changed key
//! fails the host.

use crate::protocol::{self, BERTH_VERSION, FromAgent, PROTOCOL, ToAgent};
use crate::store;
use berth_engine::event::{Event, Outcome, Reporter, Summary};
use berth_engine::target::{
    BatchResult, Connect, HostFacts, HostRequest, RootResult, Shipment, Target, TargetFault,
};
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use openssh_sftp_client::{Sftp, SftpOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The environment variable that names the agent binary to ship, instead
/// of the static build next to this program.
pub const AGENT_ENV: &str = "BERTH_AGENT";

/// The Rust target of the static agent build.
pub const AGENT_TARGET: &str = "x86_64-unknown-linux-musl";

/// The command that builds the static agent.
pub const AGENT_BUILD: &str =
    "cargo build --locked --profile agent --target x86_64-unknown-linux-musl -p berth";

/// Settings of SSH connections.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// An `ssh_config` to pass with `-F`, instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// The agent binary to ship.
    pub agent: PathBuf,
}

impl SshOptions {
    /// The options for environment `env` of the repository at `repo`:
    /// `ssh_config_<env>` there wins over `ssh_config`; the agent is
    /// [`agent_binary`]'s.
    pub fn for_environment(repo: &Path, env: &str) -> Result<Self, String> {
        let config_file = [format!("ssh_config_{env}"), "ssh_config".to_string()]
            .into_iter()
            .map(|name| repo.join(name))
            .find(|p| p.is_file());
        Ok(Self {
            config_file,
            connect_timeout: Duration::from_secs(10),
            agent: agent_binary()?,
        })
    }
}

/// The agent binary to ship: `$BERTH_AGENT`, else the static build beside
/// this program's build folder
/// (`target/x86_64-unknown-linux-musl/agent/berth`). Its absence is an
/// error that says the command that builds it.
pub fn agent_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(AGENT_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    // target/<profile>/berth → target/<musl>/agent/berth
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join(AGENT_TARGET).join("agent").join("berth"));
    match candidate {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(format!(
            "the static agent `{}` is not built; build it with `{AGENT_BUILD}` (or `scripts/setup`), or name an agent binary in `{AGENT_ENV}`",
            path.display()
        )),
        None => Err(format!(
            "cannot place the static agent beside `{}`; set `{AGENT_ENV}`",
            exe.display()
        )),
    }
}

/// Opens SSH targets.
#[derive(Debug)]
pub struct SshConnect {
    options: SshOptions,
    agent_sha256: String,
    runtime: tokio::runtime::Runtime,
}

impl SshConnect {
    /// A connector; hashes the agent binary once.
    pub fn new(options: SshOptions) -> Result<Self, String> {
        let bytes = std::fs::read(&options.agent)
            .map_err(|e| format!("agent binary `{}`: {e}", options.agent.display()))?;
        let agent_sha256 = sha256_hex(&bytes);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the SSH runtime: {e}"))?;
        Ok(Self {
            options,
            agent_sha256,
            runtime,
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Connect for SshConnect {
    fn open(&self, host: &HostFacts, shipment: &Shipment) -> Result<Box<dyn Target + '_>, String> {
        let name = &host.name;
        let destination = if host.fqdn.is_empty() {
            &host.name
        } else {
            &host.fqdn
        };
        let target = self
            .runtime
            .block_on(self.open_async(destination, host, shipment))
            .map_err(|e| format!("host `{name}` (`{destination}`): {e}"))?;
        Ok(Box::new(SshTarget {
            host: name.clone(),
            runtime: self.runtime.handle().clone(),
            connection: Some(target),
        }))
    }
}

/// An open host: the master connection and the agent on it.
struct Connection {
    session: Arc<Session>,
    agent: openssh::Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    /// The agent's messages, read by a task of their own so that waiting
    /// for one can be interrupted without losing half a frame. `None` at
    /// the end of the stream.
    frames: tokio::sync::mpsc::Receiver<Result<Option<FromAgent>, String>>,
}

impl SshConnect {
    async fn open_async(
        &self,
        destination: &str,
        host: &HostFacts,
        shipment: &Shipment,
    ) -> Result<Connection, String> {
        let service_user = match host.service_user.as_str() {
            "" => None,
            u if store::is_user_name(u) => Some(u),
            u => return Err(format!("service user `{u}` is not a valid user name")),
        };
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(KnownHosts::Strict)
            .connect_timeout(self.options.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(std::env::temp_dir());
        if let Some(config) = &self.options.config_file {
            builder.config_file(config);
        }
        let session = builder
            .connect_mux(destination)
            .await
            .map_err(|e| format!("cannot connect: {}", error_chain(&e)))?;
        let session = Arc::new(session);

        // Round trip 1: architecture and what the store holds.
        let probe_command = store::probe_command(service_user);
        let probe = session
            .clone()
            .arc_raw_command(&probe_command)
            .output()
            .await
            .map_err(|e| format!("cannot run a command: {}", error_chain(&e)))?;
        if !probe.status.success() {
            let stderr = String::from_utf8_lossy(&probe.stderr).trim().to_string();
            if let Some(user) = service_user
                && stderr.contains("sudo")
            {
                return Err(format!(
                    "`sudo -n -u {user}` refused ({stderr}): the login user must be allowed to run commands as `{user}` without a password (`NOPASSWD` in sudoers)"
                ));
            }
            return Err(format!("`{probe_command}` failed: {stderr}"));
        }
        let probe = store::parse_probe(&String::from_utf8_lossy(&probe.stdout))?;
        if probe.arch != std::env::consts::ARCH {
            return Err(format!(
                "the host's architecture is `{}`, and this berth ships an agent for `{}` only",
                probe.arch,
                std::env::consts::ARCH
            ));
        }
        let mut wanted: Vec<(String, PathBuf)> = shipment
            .blobs
            .iter()
            .map(|(sha, path)| (sha.clone(), path.clone()))
            .collect();
        wanted.push((self.agent_sha256.clone(), self.options.agent.clone()));
        let missing: Vec<(String, PathBuf)> = wanted
            .into_iter()
            .filter(|(sha, _)| !probe.present.contains(sha))
            .collect();
        let sudo = match (probe.sudo, service_user) {
            (true, Some(user)) => Some((user, probe.home.as_str())),
            _ => None,
        };
        if !missing.is_empty() {
            self.upload(&session, &missing, sudo).await?;
        }

        // The agent, and its handshake.
        let agent_command = format!("{}/{} agent", store::STORE, self.agent_sha256);
        let agent_command = match sudo {
            Some((user, _)) => store::as_user(user, &format!("exec {agent_command}")),
            None => agent_command,
        };
        let mut agent = session
            .clone()
            .arc_raw_command(agent_command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .await
            .map_err(|e| format!("cannot start the agent: {}", error_chain(&e)))?;
        let (Some(mut stdin), Some(mut stdout)) = (agent.stdin().take(), agent.stdout().take())
        else {
            return Err("the agent's stdin or stdout is not a pipe".into());
        };
        send(
            &mut stdin,
            &ToAgent::Hello {
                protocol: PROTOCOL,
                berth: BERTH_VERSION.to_string(),
                target_directory: shipment.target_directory.clone(),
                lock: shipment.lock.clone(),
            },
        )
        .await
        .map_err(|e| format!("cannot talk to the agent: {e}"))?;
        match receive(&mut stdout).await {
            Ok(Some(FromAgent::Ready { protocol, berth })) => {
                if let Some(m) = protocol::mismatch(protocol, &berth) {
                    return Err(m);
                }
            }
            Ok(Some(FromAgent::Refused { message })) => return Err(message),
            Ok(Some(other)) => return Err(format!("the agent answered {other:?}")),
            Ok(None) => {
                let status = agent.wait().await;
                return Err(format!(
                    "the agent ended before the handshake ({})",
                    match status {
                        Ok(s) => s.to_string(),
                        Err(e) => error_chain(&e),
                    }
                ));
            }
            Err(e) => return Err(format!("the agent's handshake failed: {e}")),
        }
        let (tx, frames) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let frame = receive(&mut stdout).await;
                let end = !matches!(frame, Ok(Some(_)));
                if tx.send(frame).await.is_err() || end {
                    break;
                }
            }
        });
        Ok(Connection {
            session,
            agent,
            stdin,
            frames,
        })
    }

    /// Uploads blobs under temporary names over SFTP on the master
    /// connection, then checks and renames them in one command. For a
    /// service user's store (`sudo`: the user and the login user's home),
    /// they go to a staging folder of the login user's first, which the
    /// service user copies from.
    async fn upload(
        &self,
        session: &Arc<Session>,
        blobs: &[(String, PathBuf)],
        sudo: Option<(&str, &str)>,
    ) -> Result<(), String> {
        let nonce = format!("{}-{}", std::process::id(), nanos());
        let sftp = Sftp::from_clonable_session(session.clone(), SftpOptions::default())
            .await
            .map_err(|e| format!("cannot open SFTP: {e}"))?;
        let folder = match sudo {
            Some(_) => store::staging_dir(&nonce),
            None => store::STORE.to_string(),
        };
        let result = async {
            if sudo.is_some() {
                let mut fs = sftp.fs();
                // `.berth` may exist already; the staging folder may not.
                let _ = fs.create_dir(".berth").await;
                fs.create_dir(&folder)
                    .await
                    .map_err(|e| format!("cannot create `~/{folder}`: {e}"))?;
            }
            for (sha, path) in blobs {
                let bytes =
                    std::fs::read(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
                let remote = format!("{folder}/{}", store::part_name(sha, &nonce));
                let mut file = sftp
                    .create(&remote)
                    .await
                    .map_err(|e| format!("cannot create `~/{remote}`: {e}"))?;
                file.write_all(&bytes)
                    .await
                    .map_err(|e| format!("cannot upload `~/{remote}`: {e}"))?;
                file.close()
                    .await
                    .map_err(|e| format!("cannot upload `~/{remote}`: {e}"))?;
            }
            let shas: Vec<String> = blobs.iter().map(|(s, _)| s.clone()).collect();
            let list = format!("{folder}/{}", store::checklist_name(&nonce));
            let mut file = sftp
                .create(&list)
                .await
                .map_err(|e| format!("cannot create `~/{list}`: {e}"))?;
            file.write_all(store::checklist(&shas, &nonce).as_bytes())
                .await
                .map_err(|e| format!("cannot upload `~/{list}`: {e}"))?;
            file.close()
                .await
                .map_err(|e| format!("cannot upload `~/{list}`: {e}"))?;
            Ok::<_, String>(())
        }
        .await;
        let closed = sftp.close().await;
        result?;
        closed.map_err(|e| format!("SFTP: {e}"))?;
        let executable = [self.agent_sha256.clone()];
        let commit = match sudo {
            Some((user, home)) => {
                let staged = format!("{home}/{folder}");
                format!(
                    "{}; status=$?; rm -rf {folder}; exit $status",
                    store::as_user(
                        user,
                        &store::commit_command(&nonce, &executable, Some(&staged))
                    )
                )
            }
            None => store::commit_command(&nonce, &executable, None),
        };
        let out = session
            .clone()
            .arc_raw_command(&commit)
            .output()
            .await
            .map_err(|e| format!("cannot run a command: {}", error_chain(&e)))?;
        if !out.status.success() {
            return Err(format!(
                "uploaded files did not match their sha256 (or could not be renamed): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// An error with its causes, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(text.trim()) {
            out.push_str(": ");
            out.push_str(text.trim());
        }
        source = s.source();
    }
    out
}

async fn send(stdin: &mut openssh::ChildStdin, message: &ToAgent) -> Result<(), String> {
    let mut frame = Vec::new();
    protocol::write(&mut frame, message).map_err(|e| e.to_string())?;
    stdin.write_all(&frame).await.map_err(|e| e.to_string())?;
    stdin.flush().await.map_err(|e| e.to_string())
}

async fn receive(stdout: &mut openssh::ChildStdout) -> Result<Option<FromAgent>, String> {
    let mut len = [0u8; 4];
    match stdout.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let n = u32::from_be_bytes(len);
    if n > protocol::MAX_MESSAGE {
        return Err(format!("a frame of {n} bytes"));
    }
    let mut body = vec![0u8; n as usize];
    stdout
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    let mut frame = len.to_vec();
    frame.extend_from_slice(&body);
    protocol::read(&mut frame.as_slice()).map_err(|e| e.to_string())
}

/// A host with its agent running.
struct SshTarget {
    host: String,
    runtime: tokio::runtime::Handle,
    connection: Option<Connection>,
}

/// Counts what a request did from its events, for when the connection is
/// lost before the agent's own count arrives.
#[derive(Default)]
struct Tally {
    result: BatchResult,
    /// `host/component` and the last step seen, for the fault message.
    current: Option<(String, Option<String>)>,
}

impl Tally {
    fn see(&mut self, event: &Event) {
        let s: &mut Summary = &mut self.result.summary;
        match event {
            Event::ComponentStarted { host, component } => {
                self.current = Some((format!("{host}/{component}"), None));
            }
            Event::Step {
                index,
                label,
                outcome,
                ..
            } => {
                match outcome {
                    Outcome::Unchanged => s.unchanged += 1,
                    Outcome::Changed { .. } | Outcome::WouldChange { .. } => s.changed += 1,
                    Outcome::Failed { .. } => {}
                }
                if let Some((_, step)) = &mut self.current {
                    *step = Some(format!("step {index} `{label}`"));
                }
            }
            Event::ComponentFinished {
                host,
                component,
                failed,
                ..
            } => {
                self.current = None;
                if *failed {
                    s.failed += 1;
                    s.failures
                        .push(format!("{host}/{component}: failed (see its steps above)"));
                }
                self.result.roots.push(match failed {
                    true => RootResult::Failed,
                    false => RootResult::Succeeded,
                });
            }
            Event::ComponentFailed {
                host,
                component,
                error,
            } => {
                s.failed += 1;
                s.failures.push(format!("{host}/{component}: {error}"));
                self.result.roots.push(RootResult::Failed);
            }
            Event::ComponentSkipped { .. } => {
                s.skipped += 1;
                self.result.roots.push(RootResult::Skipped);
            }
            _ => {}
        }
    }

    fn where_(&self) -> String {
        match &self.current {
            Some((root, Some(step))) => format!(" while deploying `{root}` after {step}"),
            Some((root, None)) => format!(" while deploying `{root}`"),
            None => String::new(),
        }
    }
}

impl Target for SshTarget {
    fn deploy(
        &mut self,
        request: &HostRequest,
        reporter: &Arc<dyn Reporter>,
        interrupt: &AtomicBool,
    ) -> Result<BatchResult, TargetFault> {
        let host = self.host.clone();
        let Some(connection) = self.connection.as_mut() else {
            return Err(TargetFault {
                message: format!("host `{host}`: the connection is closed"),
                partial: Box::default(),
            });
        };
        let runtime = self.runtime.clone();
        runtime.block_on(async {
            let mut tally = Tally::default();
            let fault = |tally: Tally, what: String| TargetFault {
                message: format!("host `{host}`: {what}{}", tally.where_()),
                partial: Box::new(tally.result),
            };
            if let Err(e) = send(&mut connection.stdin, &ToAgent::Deploy(request.clone())).await {
                return Err(fault(tally, format!("the connection was lost ({e})")));
            }
            let mut told = false;
            loop {
                // An interrupt closes the agent's stdin: it starts no
                // further step and answers with what it did.
                let frame = tokio::select! {
                    frame = connection.frames.recv() => frame.unwrap_or(Ok(None)),
                    _ = tokio::time::sleep(Duration::from_millis(50)), if !told => {
                        if interrupt.load(Ordering::Relaxed) {
                            told = true;
                            let _ = connection.stdin.shutdown().await;
                        }
                        continue;
                    }
                };
                match frame {
                    Ok(Some(FromAgent::Event(event))) => {
                        tally.see(&event);
                        reporter.report(&event);
                    }
                    Ok(Some(FromAgent::Done(result))) => return Ok(result),
                    Ok(Some(other)) => {
                        return Err(fault(tally, format!("the agent answered {other:?}")));
                    }
                    Ok(None) => {
                        return Err(fault(tally, "the connection was lost".to_string()));
                    }
                    Err(e) => {
                        return Err(fault(tally, format!("the connection was lost ({e})")));
                    }
                }
            }
        })
    }

    fn finish(mut self: Box<Self>, reporter: &dyn Reporter) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let host = self.host.clone();
        self.runtime.block_on(async move {
            let _ = send(&mut connection.stdin, &ToAgent::Bye).await;
            drop(connection.stdin);
            // The agent releases its lock and exits on Bye; give it a
            // bounded time.
            let _ = tokio::time::timeout(Duration::from_secs(10), connection.agent.wait()).await;
            drop(connection.frames);
            if let Ok(session) = Arc::try_unwrap(connection.session)
                && let Err(e) = session.close().await
            {
                reporter.report(&Event::Warning {
                    message: format!("host `{host}`: closing the connection: {e}"),
                    hint: None,
                });
            }
        });
    }
}
