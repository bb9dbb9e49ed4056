//! The controller's side of a remote deploy: one OpenSSH master connection
//! per host (the system client, through the `openssh` crate's native mux
//! protocol) carries every command, the SFTP uploads and the agent.
//!
//! The masters are opened while the controller loads and plans
//! ([`Connect::prepare`]). Opening a host then starts the agent from the
//! store and sends the handshake in the same round trip; in a converged
//! redeploy the agent is there and answers that the store lacks nothing.
//! Otherwise the start command answers what the store holds (and the
//! target's architecture), the missing blobs go up over SFTP on the same
//! master, one command checks and renames them, and the agent starts.
//!
//! The destination is the host's fqdn; `~/.ssh/config` applies, or the
//! project's `ssh_config_<env>` / `ssh_config` given with `-F`, as batou
//! does. Host keys are checked strictly: an unknown or changed key fails
//! the host.

use crate::agent_binary::Agent;
use crate::protocol::{self, BERTH_VERSION, FromAgent, PROTOCOL, ToAgent};
use crate::store;
use berth_engine::event::{Event, Outcome, Reporter};
use berth_engine::target::{
    BatchResult, Blob, Connect, Destination, HostRequest, RootResult, Shipment, Target,
    TargetFault, Transport,
};
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use openssh_sftp_client::{Sftp, SftpOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Set to `each` to have agents write every event as it comes instead of
/// in batches: `bench/remote.py` measures what batching saves.
pub const FLUSH_ENV: &str = "BERTH_AGENT_FLUSH";

/// How many uploads are in flight at once on one connection.
const UPLOADS_IN_FLIGHT: usize = 16;

/// Settings of SSH connections.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// An `ssh_config` to pass with `-F`, instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// The agent binary to ship.
    pub agent: Agent,
    /// Agents write every event as it comes.
    pub flush_each: bool,
}

/// The project's `ssh_config` for environment `env` of the repository at
/// `repo`: `ssh_config_<env>` there wins over `ssh_config`; `None` when
/// neither exists (then `ssh` reads `~/.ssh/config`).
pub fn project_config(repo: &Path, env: &str) -> Option<PathBuf> {
    [format!("ssh_config_{env}"), "ssh_config".to_string()]
        .into_iter()
        .map(|name| repo.join(name))
        .find(|p| p.is_file())
}

/// berth's SSH transport, for the engine: it makes an [`SshConnect`] per
/// environment.
#[derive(Debug, Clone, Default)]
pub struct SshTransport {
    /// Where to remember the agent binary's sha256 (the compile cache).
    pub cache_dir: Option<PathBuf>,
}

impl Transport for SshTransport {
    fn connect(
        &self,
        repo: &Path,
        environment: &berth_config::Environment,
    ) -> Result<Box<dyn Connect>, String> {
        let agent = Agent::find(self.cache_dir.as_deref())?;
        let options = SshOptions {
            config_file: project_config(repo, &environment.name),
            connect_timeout: environment.connect_timeout,
            agent,
            flush_each: std::env::var(FLUSH_ENV).is_ok_and(|v| v == "each"),
        };
        Ok(Box::new(SshConnect::new(options)?))
    }
}

/// A master connection being opened, or open.
type Master = tokio::task::JoinHandle<Result<Session, String>>;

/// Opens SSH targets.
#[derive(Debug)]
pub struct SshConnect {
    options: SshOptions,
    runtime: tokio::runtime::Runtime,
    masters: Mutex<BTreeMap<String, Master>>,
}

impl SshConnect {
    /// A connector with its own I/O threads.
    ///
    /// Errors: the threads cannot be started.
    pub fn new(options: SshOptions) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("berth-ssh")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the SSH runtime: {e}"))?;
        Ok(Self {
            options,
            runtime,
            masters: Mutex::new(BTreeMap::new()),
        })
    }

    /// Starts opening the master connection of `host`.
    fn launch(&self, host: &Destination) -> Master {
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(KnownHosts::Strict)
            .connect_timeout(self.options.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            // A controller killed without closing its masters leaves them
            // for at most this long.
            .control_persist(ControlPersist::IdleFor(
                std::num::NonZeroUsize::new(600).unwrap_or(std::num::NonZeroUsize::MIN),
            ))
            .control_directory(std::env::temp_dir());
        if let Some(config) = &self.options.config_file {
            builder.config_file(config);
        }
        let destination = host.fqdn.clone();
        self.runtime.spawn(async move {
            builder
                .connect_mux(&destination)
                .await
                .map_err(|e| connect_error(&e))
        })
    }

    fn master(&self, host: &Destination) -> Master {
        let prepared = self
            .masters
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&host.host));
        prepared.unwrap_or_else(|| self.launch(host))
    }
}

impl Drop for SshConnect {
    fn drop(&mut self) {
        // Masters opened for hosts that never got a request.
        let masters = self
            .masters
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        for (_, master) in masters {
            self.runtime.block_on(async {
                if let Ok(Ok(session)) = master.await {
                    let _ = session.close().await;
                }
            });
        }
    }
}

impl Connect for SshConnect {
    fn prepare(&self, hosts: &[Destination]) {
        let launched: Vec<(String, Master)> = hosts
            .iter()
            .map(|h| (h.host.clone(), self.launch(h)))
            .collect();
        if let Ok(mut masters) = self.masters.lock() {
            masters.extend(launched);
        }
    }

    fn open(
        &self,
        host: &Destination,
        shipment: &Shipment,
    ) -> Result<Box<dyn Target + '_>, TargetFault> {
        let name = &host.host;
        let fault = |e: String| TargetFault::new(format!("host `{name}` (`{}`): {e}", host.fqdn));
        let service_user = match host.service_user.as_str() {
            "" => None,
            u if store::is_user_name(u) => Some(u),
            u => {
                return Err(fault(format!(
                    "service user `{u}` is not a valid user name"
                )));
            }
        };
        let master = self.master(host);
        let connection = self
            .runtime
            .block_on(async {
                let session = master.await.map_err(|e| format!("cannot connect: {e}"))??;
                let mut opening = Opening {
                    options: &self.options,
                    session: Arc::new(session),
                    service_user,
                    shipment,
                };
                let started = opening.start().await;
                match started {
                    Ok(agent) => Ok(Connection {
                        session: opening.session,
                        agent,
                    }),
                    Err(e) => {
                        close(opening.session).await;
                        Err(e)
                    }
                }
            })
            .map_err(fault)?;
        Ok(Box::new(SshTarget {
            host: name.clone(),
            runtime: self.runtime.handle().clone(),
            connection: Some(connection),
        }))
    }
}

async fn close(session: Arc<Session>) {
    if let Ok(session) = Arc::try_unwrap(session) {
        let _ = session.close().await;
    }
}

/// What `ssh` said when it could not connect, as one line with what to do.
fn connect_error(e: &openssh::Error) -> String {
    let text = error_chain(e);
    let text = text
        .strip_prefix("failed to connect to the remote host: ")
        .unwrap_or(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .collect();
    let said = |l: &&str| !l.starts_with("Warning: Permanently added");
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("has changed and you have requested strict checking")
    {
        let offending = lines
            .iter()
            .find(|l| l.starts_with("Offending"))
            .map(|l| format!(" ({})", l.split(" remove with").next().unwrap_or(l)))
            .unwrap_or_default();
        return format!(
            "cannot connect: its host key changed{offending}; ssh refuses a changed key, since it may mean that someone intercepts the connection. If the host was reinstalled, remove its old key with `ssh-keygen -R HOST` and add the new one"
        );
    }
    let joined = lines.into_iter().filter(said).collect::<Vec<_>>().join(" ");
    if joined.contains("Host key verification failed") {
        return format!(
            "cannot connect: its host key is not known ({joined}); add it to `known_hosts` after checking its fingerprint"
        );
    }
    format!("cannot connect: {joined}")
}

/// A host being opened.
struct Opening<'a> {
    options: &'a SshOptions,
    session: Arc<Session>,
    service_user: Option<&'a str>,
    shipment: &'a Shipment,
}

/// The agent, running, after its handshake.
struct Running {
    child: openssh::Child<Arc<Session>>,
    stdin: Option<openssh::ChildStdin>,
    /// The agent's messages, read by a task of their own so that waiting
    /// for one can be interrupted without losing half a frame. `None` at
    /// the end of the stream.
    frames: tokio::sync::mpsc::Receiver<Result<Option<FromAgent>, String>>,
    stderr: Option<openssh::ChildStderr>,
}

/// How starting the agent went.
enum Started {
    /// It runs; these blobs are missing from its store.
    Agent(Box<Running>, Vec<String>, bool),
    /// The store has no agent: what it has instead.
    Bootstrap(store::Bootstrap),
}

impl Opening<'_> {
    /// Starts the agent, filling the store first when it lacks something.
    async fn start(&mut self) -> Result<Running, String> {
        match self.spawn().await? {
            Started::Agent(running, missing, sudo) => {
                if !missing.is_empty() {
                    let missing: BTreeSet<String> = missing.into_iter().collect();
                    self.upload(&missing, sudo).await?;
                }
                Ok(*running)
            }
            Started::Bootstrap(found) => {
                if found.arch != std::env::consts::ARCH {
                    return Err(format!(
                        "the host's architecture is `{}`, and this berth ships an agent for `{}` only",
                        found.arch,
                        std::env::consts::ARCH
                    ));
                }
                let missing: BTreeSet<String> = self
                    .wanted()
                    .into_iter()
                    .filter(|sha| !found.present.contains(sha))
                    .collect();
                self.upload(&missing, found.sudo).await?;
                match self.spawn().await? {
                    Started::Agent(running, missing, _) if missing.is_empty() => Ok(*running),
                    Started::Agent(_, missing, _) => Err(format!(
                        "the store still lacks {} uploaded files",
                        missing.len()
                    )),
                    Started::Bootstrap(_) => {
                        Err("the agent did not start after it was uploaded".into())
                    }
                }
            }
        }
    }

    /// Every blob the host's requests refer to.
    fn wanted(&self) -> Vec<String> {
        let agent = self.options.agent.sha256.clone();
        std::iter::once(agent)
            .chain(self.shipment.blobs.keys().cloned())
            .collect()
    }

    /// Runs the start command with the handshake on its stdin.
    async fn spawn(&self) -> Result<Started, String> {
        let command = store::start_command(&self.options.agent.sha256, self.service_user);
        let mut child = self
            .session
            .clone()
            .arc_raw_command(&command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| format!("cannot run a command: {}", error_chain(&e)))?;
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin().take(), child.stdout().take())
        else {
            return Err("the agent's stdin or stdout is not a pipe".into());
        };
        let stderr = child.stderr().take();
        let hello = ToAgent::Hello {
            protocol: PROTOCOL,
            berth: BERTH_VERSION.to_string(),
            target_directory: self.shipment.target_directory.clone(),
            lock: self.shipment.lock.clone(),
            blobs: self.shipment.blobs.keys().cloned().collect(),
            flush_each: self.options.flush_each,
        };
        // Sent before the answer: a shell that bootstraps never reads it.
        let _ = send(&mut stdin, &hello).await;
        let mut head = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match stdout.read(&mut head[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        if got < 4 {
            return Err(ended(child, stderr, self.service_user, &head[..got]).await);
        }
        if head == *b"bert" {
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest).await;
            let _ = child.wait().await;
            let text = format!("bert{}", String::from_utf8_lossy(&rest));
            return store::parse_bootstrap(&text).map(Started::Bootstrap);
        }
        let body = read_body(&mut stdout, head).await?;
        let (protocol, berth) = protocol::versions(&body);
        let answer: FromAgent = match protocol::mismatch("the agent", protocol, berth.as_deref()) {
            Some(m) if protocol.is_some() => return Err(m),
            _ => protocol::parse(&body).map_err(|e| format!("the agent answered: {e}"))?,
        };
        match answer {
            FromAgent::Ready {
                missing, sudo_from, ..
            } => {
                let (tx, frames) = tokio::sync::mpsc::channel(256);
                tokio::spawn(async move {
                    loop {
                        let frame = receive(&mut stdout).await;
                        let end = !matches!(frame, Ok(Some(_)));
                        if tx.send(frame).await.is_err() || end {
                            break;
                        }
                    }
                });
                let running = Running {
                    child,
                    stdin: Some(stdin),
                    frames,
                    stderr,
                };
                Ok(Started::Agent(
                    Box::new(running),
                    missing,
                    sudo_from.is_some(),
                ))
            }
            FromAgent::Refused { message } => Err(message),
            other => Err(format!("the agent answered {other:?} to the handshake")),
        }
    }

    /// Uploads blobs under temporary names over SFTP on the master
    /// connection, then checks and renames them in one command. For a
    /// service user's store (`sudo`) they go to a staging folder first,
    /// which the service user copies from.
    async fn upload(&self, blobs: &BTreeSet<String>, sudo: bool) -> Result<(), String> {
        let sources: Vec<(String, Blob)> = blobs
            .iter()
            .map(|sha| {
                let blob = if *sha == self.options.agent.sha256 {
                    Some(Blob::File(self.options.agent.path.clone()))
                } else {
                    self.shipment.blobs.get(sha).cloned()
                };
                blob.map(|b| (sha.clone(), b))
                    .ok_or_else(|| format!("the target asks for a file this deploy lacks: {sha}"))
            })
            .collect::<Result<_, _>>()?;
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let sudo_user = match (sudo, self.service_user) {
            (true, Some(user)) => Some(user),
            _ => None,
        };
        let folder = match sudo_user {
            Some(_) => store::staging_dir(&nonce),
            None => store::STORE.to_string(),
        };
        let sftp = Sftp::from_clonable_session(self.session.clone(), SftpOptions::default())
            .await
            .map_err(|e| format!("cannot open SFTP: {e}"))?;
        let sftp = Arc::new(sftp);
        let result = put_all(&sftp, &folder, &nonce, &sources, sudo_user.is_some()).await;
        let closed = match Arc::try_unwrap(sftp) {
            Ok(sftp) => sftp.close().await.map_err(|e| format!("SFTP: {e}")),
            Err(_) => Ok(()),
        };
        result?;
        closed?;
        let executable: Vec<String> = blobs
            .iter()
            .filter(|sha| **sha == self.options.agent.sha256)
            .cloned()
            .collect();
        let commit = store::commit(&nonce, &executable, sudo_user);
        let out = self
            .session
            .clone()
            .arc_raw_command(&commit)
            .output()
            .await
            .map_err(|e| format!("cannot run a command: {}", error_chain(&e)))?;
        if !out.status.success() {
            return Err(format!(
                "the uploaded files did not check out against their sha256 (or could not be renamed): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }
}

/// Uploads `sources` into `folder` as `<sha256>.<nonce>.part` files, with
/// the checklist of `sha256sum -c`, a few at a time.
async fn put_all(
    sftp: &Arc<Sftp>,
    folder: &str,
    nonce: &str,
    sources: &[(String, Blob)],
    staged: bool,
) -> Result<(), String> {
    if staged {
        let mut fs = sftp.fs();
        fs.create_dir(folder)
            .await
            .map_err(|e| format!("cannot create `{folder}`: {e}"))?;
        // The service user reads the staging folder; nothing in it is
        // secret, and the store checks every file it copies.
        fs.set_permissions(
            folder,
            openssh_sftp_client::metadata::Permissions::from(0o755),
        )
        .await
        .map_err(|e| format!("cannot make `{folder}` readable: {e}"))?;
    } else {
        let mut fs = sftp.fs();
        // `.berth` and the store exist after the first start; else create
        // them (an error here shows on the first upload).
        let _ = fs.create_dir(".berth").await;
        let _ = fs.create_dir(store::STORE).await;
    }
    let mut uploads = tokio::task::JoinSet::new();
    let mut pending = sources.iter();
    let list: Vec<String> = sources.iter().map(|(sha, _)| sha.clone()).collect();
    let checklist = (
        store::checklist_name(nonce),
        Blob::Bytes(Arc::new(store::checklist(&list, nonce).into_bytes())),
    );
    let mut next = |uploads: &mut tokio::task::JoinSet<Result<(), String>>| {
        let (name, blob) = match pending.next() {
            Some((sha, blob)) => (store::part_name(sha, nonce), blob.clone()),
            None => return false,
        };
        let remote = format!("{folder}/{name}");
        let sftp = sftp.clone();
        uploads.spawn(async move { put(&sftp, &remote, &blob).await });
        true
    };
    for _ in 0..UPLOADS_IN_FLIGHT {
        if !next(&mut uploads) {
            break;
        }
    }
    while let Some(done) = uploads.join_next().await {
        done.map_err(|e| format!("an upload failed: {e}"))??;
        next(&mut uploads);
    }
    put(sftp, &format!("{folder}/{}", checklist.0), &checklist.1).await
}

/// Uploads one blob to `remote`. The bytes go out as they are (the
/// zero-copy requests), not serialized one by one.
async fn put(sftp: &Sftp, remote: &str, blob: &Blob) -> Result<(), String> {
    let bytes = match blob {
        Blob::File(path) => bytes::Bytes::from(
            std::fs::read(path).map_err(|e| format!("`{}`: {e}", path.display()))?,
        ),
        Blob::Bytes(bytes) => bytes::Bytes::from(bytes.as_ref().clone()),
    };
    let failed = |e: openssh_sftp_client::Error| format!("cannot upload `{remote}`: {e}");
    let mut file = sftp.create(remote).await.map_err(failed)?;
    file.write_all_zero_copy(&mut [bytes])
        .await
        .map_err(failed)?;
    file.close().await.map_err(failed)
}

/// Why the start command ended without a word: sudo refused, or the agent
/// could not run.
async fn ended(
    child: openssh::Child<Arc<Session>>,
    stderr: Option<openssh::ChildStderr>,
    service_user: Option<&str>,
    got: &[u8],
) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = stderr {
        let _ = stderr.read_to_string(&mut text).await;
    }
    let status = child.wait().await;
    let text = text.trim();
    if let Some(user) = service_user
        && text.starts_with("sudo:")
    {
        let why = if text.contains("password") {
            "sudo wants a password, and berth never types one"
        } else {
            "sudo refused"
        };
        return format!(
            "cannot run the agent as `{user}`: {why} (`{text}`); allow the login user to run commands as `{user}` without a password (`NOPASSWD` in sudoers), or log in as `{user}`"
        );
    }
    let status = match status {
        Ok(s) => s.to_string(),
        Err(e) => error_chain(&e),
    };
    let text = if text.is_empty() {
        String::from_utf8_lossy(got).into_owned()
    } else {
        text.to_string()
    };
    format!("the agent ended before its handshake ({status}): {text}")
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
    let frame = protocol::frame(message).map_err(|e| e.to_string())?;
    stdin.write_all(&frame).await.map_err(|e| e.to_string())?;
    stdin.flush().await.map_err(|e| e.to_string())
}

async fn read_body(stdout: &mut openssh::ChildStdout, head: [u8; 4]) -> Result<Vec<u8>, String> {
    let n = protocol::frame_len(head).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; n];
    stdout
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

async fn receive(stdout: &mut openssh::ChildStdout) -> Result<Option<FromAgent>, String> {
    let mut head = [0u8; 4];
    match stdout.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let body = read_body(stdout, head).await?;
    protocol::parse(&body).map(Some).map_err(|e| e.to_string())
}

/// An open host: the master connection and the agent on it.
struct Connection {
    session: Arc<Session>,
    agent: Running,
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
        let s = &mut self.result.summary;
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

    /// Where the request was, for a fault message.
    fn place(&self) -> String {
        match &self.current {
            Some((root, Some(step))) => format!(" while deploying `{root}` (after {step})"),
            Some((root, None)) => format!(" while deploying `{root}` (before its first step)"),
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
            return Err(TargetFault::new(format!(
                "host `{host}`: the connection is closed"
            )));
        };
        let agent = &mut connection.agent;
        self.runtime.block_on(async {
            let mut tally = Tally::default();
            let fault = |tally: Tally, what: String| TargetFault {
                message: format!("host `{host}`: {what}{}", tally.place()),
                partial: Box::new(tally.result),
            };
            let Some(stdin) = agent.stdin.as_mut() else {
                return Err(fault(tally, "the agent was stopped".into()));
            };
            if let Err(e) = send(stdin, &ToAgent::Deploy(request.clone())).await {
                return Err(fault(tally, format!("the connection was lost ({e})")));
            }
            loop {
                // An interrupt closes the agent's stdin: it starts no
                // further step and answers with what it did.
                let frame = tokio::select! {
                    frame = agent.frames.recv() => frame.unwrap_or(Ok(None)),
                    () = tokio::time::sleep(Duration::from_millis(50)), if agent.stdin.is_some() => {
                        if interrupt.load(Ordering::Relaxed)
                            && let Some(mut stdin) = agent.stdin.take()
                        {
                            let _ = stdin.shutdown().await;
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
        let Some(connection) = self.connection.take() else {
            return;
        };
        let host = self.host.clone();
        self.runtime.block_on(async move {
            let Connection { session, agent } = connection;
            let Running {
                child,
                stdin,
                mut frames,
                stderr,
            } = agent;
            // The agent releases its lock and answers Bye; when its stdin
            // is closed already (an interrupt), it does so on its own.
            if let Some(mut stdin) = stdin {
                let _ = send(&mut stdin, &ToAgent::Bye).await;
            }
            let bye = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match frames.recv().await {
                        Some(Ok(Some(FromAgent::Bye))) | Some(Ok(None)) | None => return true,
                        Some(Ok(Some(FromAgent::Event(event)))) => reporter.report(&event),
                        Some(Ok(Some(_))) => {}
                        Some(Err(_)) => return false,
                    }
                }
            })
            .await;
            if !matches!(bye, Ok(true)) {
                reporter.report(&Event::Warning {
                    message: format!(
                        "host `{host}`: the agent did not end in time; its deploy lock may stay (a later deploy reports it as stale)"
                    ),
                    hint: None,
                });
            }
            drop(stderr);
            drop(frames);
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            close(session).await;
        });
    }
}
