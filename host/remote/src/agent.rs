//! `berth agent`: the target's side of a remote deploy. It reads
//! [`ToAgent`] messages on stdin and answers on stdout; it never prints
//! anything else there.
//!
//! The agent checks the handshake, takes the deploy lock in the target
//! directory, says which blobs its store lacks, and runs each request with
//! the engine's [`berth_engine::target::execute`], loading packages from
//! its store and compiling them into its own cache (`~/.berth/cache/`).
//!
//! Events go back in batches: a request's events are written together with
//! its answer, and while a request runs, what is pending is written once
//! it is [`FLUSH_AFTER`] old. OpenSSH turns Nagle's algorithm off only for
//! interactive sessions, so on this channel a small write that follows
//! another waits for the peer's delayed acknowledgement (up to 40 ms on
//! Linux); one write per answer never waits (`bench/remote.py` measures
//! both).
//!
//! When stdin ends (the controller is gone or was interrupted), no further
//! step starts, and the lock is released.

use crate::protocol::{self, BERTH_VERSION, FromAgent, PROTOCOL, ProtocolError, ToAgent};
use crate::store;
use berth_engine::event::{Event, Reporter};
use berth_engine::lock::{DeployLock, Holder};
use berth_engine::target::{self, Defdir, HostRequest, PackageRef, Packages};
use berth_runtime::{Package, Runtime, RuntimeOptions, Sources};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an event may wait to be written while a request runs.
pub const FLUSH_AFTER: Duration = Duration::from_millis(100);

/// Serves one controller on `input` and `output` until it says goodbye or
/// goes away.
///
/// Errors: the controller cannot be told anything any more (its stream
/// failed) or sent something that is not a message.
pub fn serve(
    mut input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
) -> Result<(), ProtocolError> {
    let out = Out::new(Box::new(output));
    let Some(body) = protocol::read_frame(&mut input)? else {
        return Ok(());
    };
    let (protocol, berth) = protocol::versions(&body);
    if let Some(message) = protocol::mismatch("the controller", protocol, berth.as_deref()) {
        return out.send(&FromAgent::Refused { message });
    }
    let (target_directory, lock, blobs, flush_each) = match protocol::parse(&body)? {
        ToAgent::Hello {
            target_directory,
            lock,
            blobs,
            flush_each,
            ..
        } => (target_directory, lock, blobs, flush_each),
        other => {
            let message = format!("expected the handshake, got {other:?}");
            return out.send(&FromAgent::Refused { message });
        }
    };
    let home = home();
    let target_directory = expand_home(&target_directory, &home);
    let lock = match lock {
        None => None,
        Some(request) => {
            let holder = Holder::here(&request.owner, &request.command);
            match DeployLock::acquire(&target_directory, holder, request.break_lock) {
                Ok(lock) => Some(lock),
                Err(e) => {
                    return out.send(&FromAgent::Refused {
                        message: e.to_string(),
                    });
                }
            }
        }
    };
    let store = home.join(store::STORE);
    let missing = blobs
        .into_iter()
        .filter(|sha| !store.join(sha).is_file())
        .collect();
    out.send(&FromAgent::Ready {
        protocol: PROTOCOL,
        berth: BERTH_VERSION.to_string(),
        user: std::env::var("USER").unwrap_or_default(),
        home: home.clone(),
        sudo_from: std::env::var("SUDO_USER").ok(),
        missing,
    })?;

    // Requests arrive on a reader thread, so that the end of stdin is seen
    // while a request runs and stops it between steps.
    let cancel = Arc::new(AtomicBool::new(false));
    let (requests, incoming) = std::sync::mpsc::channel::<Result<ToAgent, String>>();
    {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            loop {
                let message = match protocol::read::<ToAgent>(&mut input) {
                    Ok(Some(m)) => Ok(m),
                    // The controller is gone.
                    Ok(None) => break,
                    Err(e) => Err(e.to_string()),
                };
                let last = !matches!(message, Ok(ToAgent::Deploy(_)));
                if last {
                    // Bye or garbage: no more work, and none in progress.
                    cancel.store(!matches!(message, Ok(ToAgent::Bye)), Ordering::Relaxed);
                }
                if requests.send(message).is_err() || last {
                    break;
                }
            }
            cancel.store(true, Ordering::Relaxed);
        });
    }
    let flusher = out.start_flusher(flush_each);
    let reporter: Arc<dyn Reporter> = Arc::new(Stream {
        out: out.clone(),
        flush_each,
    });
    let mut packages: Option<StorePackages> = None;
    let mut said_bye = false;
    let mut result = Ok(());
    while let Ok(message) = incoming.recv() {
        let mut request = match message {
            Ok(ToAgent::Deploy(request)) => request,
            Ok(ToAgent::Bye) => {
                said_bye = true;
                break;
            }
            Ok(other) => {
                result = Err(ProtocolError::Invalid(format!("unexpected {other:?}")));
                break;
            }
            Err(e) => {
                result = Err(ProtocolError::Invalid(e));
                break;
            }
        };
        let packages = match &mut packages {
            Some(p) => p,
            None => packages.insert(StorePackages::new(&home, request.memory_limit)),
        };
        prepare(&mut request, &home, reporter.as_ref());
        let done = target::execute(&request, packages, &reporter, &cancel);
        if let Err(e) = out.send(&FromAgent::Done(done)) {
            result = Err(e);
            break;
        }
    }
    drop(flusher);
    let released = lock.map(DeployLock::release).transpose();
    if let Err(e) = &released {
        // The controller hears of it when it still listens; stderr
        // reaches its log otherwise.
        eprintln!("berth agent: {e}");
        let _ = out.send(&FromAgent::Event(Event::Warning {
            message: e.to_string(),
            hint: None,
        }));
    }
    if said_bye {
        out.send(&FromAgent::Bye)?;
    }
    result
}

/// Fits a request to this target: `~/` paths below this user's home, and
/// definition folders built from the store.
fn prepare(request: &mut HostRequest, home: &Path, reporter: &dyn Reporter) {
    for root in &mut request.roots {
        root.workdir = expand_home(&root.workdir, home);
        for grant in &mut root.grants {
            grant.path = expand_home(&grant.path, home);
        }
        if let Defdir::Files { files } = &root.defdir {
            match store::materialize(home, files) {
                Ok(path) => root.defdir = Defdir::Path { path },
                Err(e) => {
                    // The component fails on its missing files; say why.
                    reporter.report(&Event::Warning {
                        message: format!(
                            "cannot build the definition folder of `{}` on `{}`: {e}",
                            root.component, root.host.name
                        ),
                        hint: None,
                    });
                }
            }
        }
    }
}

/// The agent user's home: where its store, cache and default target
/// directory are.
fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `~/x` as a path below `home`.
pub fn expand_home(path: &Path, home: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// The agent's stdout: frames are buffered, and written when a message
/// asks for it or when what is pending is [`FLUSH_AFTER`] old.
#[derive(Clone)]
struct Out(Arc<Mutex<Pending>>);

struct Pending {
    writer: Box<dyn Write + Send>,
    buffer: Vec<u8>,
    since: Option<Instant>,
    /// The stream failed: the controller is gone.
    broken: bool,
}

impl Out {
    fn new(writer: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(Mutex::new(Pending {
            writer,
            buffer: Vec::with_capacity(1 << 16),
            since: None,
            broken: false,
        })))
    }

    /// Adds a message; writes everything pending when `flush`.
    fn push(&self, message: &FromAgent, flush: bool) -> Result<(), ProtocolError> {
        let frame = protocol::frame(message)?;
        let mut p = self
            .0
            .lock()
            .map_err(|_| ProtocolError::Invalid("the output lock is poisoned".into()))?;
        p.buffer.extend_from_slice(&frame);
        p.since.get_or_insert_with(Instant::now);
        if flush { p.flush() } else { Ok(()) }
    }

    /// Sends a message and everything pending, in one write.
    fn send(&self, message: &FromAgent) -> Result<(), ProtocolError> {
        self.push(message, true)
    }

    /// Writes what waits longer than [`FLUSH_AFTER`], until the returned
    /// guard is dropped.
    fn start_flusher(&self, off: bool) -> Option<Flusher> {
        if off {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let out = self.clone();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(FLUSH_AFTER / 4);
                if let Ok(mut p) = out.0.lock()
                    && p.since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER)
                {
                    let _ = p.flush();
                }
            }
        });
        Some(Flusher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Pending {
    fn flush(&mut self) -> Result<(), ProtocolError> {
        self.since = None;
        if self.buffer.is_empty() || self.broken {
            self.buffer.clear();
            return Ok(());
        }
        let written = self
            .writer
            .write_all(&self.buffer)
            .and_then(|()| self.writer.flush());
        self.buffer.clear();
        written.map_err(|e| {
            self.broken = true;
            ProtocolError::Io(e)
        })
    }
}

/// Stops the flusher thread when dropped.
struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Events back to the controller.
struct Stream {
    out: Out,
    flush_each: bool,
}

impl Reporter for Stream {
    fn report(&self, event: &Event) {
        // A write error means the controller is gone; the reader thread
        // sees the end of stdin and stops the walk.
        let _ = self
            .out
            .push(&FromAgent::Event(event.clone()), self.flush_each);
    }
}

/// Packages loaded from the store, compiled into the agent's cache.
struct StorePackages {
    store: PathBuf,
    runtime: Result<Runtime, String>,
    loaded: HashMap<PackageRef, Package>,
}

impl StorePackages {
    fn new(home: &Path, memory_limit: usize) -> Self {
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(home.join(".berth").join("cache")),
            memory_limit,
        })
        .map_err(|e| e.to_string());
        Self {
            store: home.join(store::STORE),
            runtime,
            loaded: HashMap::new(),
        }
    }

    fn load(&self, package: &PackageRef) -> Result<Package, String> {
        let runtime = self.runtime.as_ref().map_err(Clone::clone)?;
        let (file, sha256) = match package {
            PackageRef::Wasm { sha256 } => (self.store.join(sha256), sha256),
            PackageRef::Python { runtime, .. } => (self.store.join(runtime), runtime),
        };
        let loaded = match package {
            PackageRef::Wasm { .. } => runtime.load(&file),
            PackageRef::Python {
                origin,
                path,
                sources,
                ..
            } => {
                let files = sources
                    .iter()
                    .map(|f| {
                        let blob = self.store.join(&f.sha256);
                        std::fs::read(&blob)
                            .map(|bytes| (f.path.clone(), bytes))
                            .map_err(|e| format!("`{}`: {e}", blob.display()))
                    })
                    .collect::<Result<_, _>>()?;
                let sources = Sources {
                    origin: origin.clone(),
                    files,
                    path: PathBuf::from(path),
                };
                runtime.load_python(&file, sources)
            }
        };
        let package = loaded.map_err(|e| e.to_string())?;
        if package.sha256 != *sha256 {
            return Err(format!(
                "`{}` in the store has sha256 {}; remove it and deploy again",
                file.display(),
                package.sha256
            ));
        }
        Ok(package)
    }
}

impl Packages for StorePackages {
    fn package(&mut self, package: &PackageRef) -> Result<&Package, String> {
        if !self.loaded.contains_key(package) {
            let loaded = self.load(package)?;
            self.loaded.insert(package.clone(), loaded);
        }
        self.loaded
            .get(package)
            .ok_or_else(|| format!("package {package:?} is not loaded"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn answers(input: Vec<u8>) -> Vec<FromAgent> {
        let out = Shared::default();
        serve(std::io::Cursor::new(input), out.clone()).unwrap();
        let bytes = out.0.lock().unwrap().clone();
        let mut wire = bytes.as_slice();
        std::iter::from_fn(|| protocol::read::<FromAgent>(&mut wire).unwrap()).collect()
    }

    #[test]
    fn another_protocol_is_refused_naming_both_versions() {
        let hello = br#"{"type":"hello","protocol":99,"berth":"0.0.1","something":"new"}"#;
        let mut wire = (hello.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(hello);
        match answers(wire).as_slice() {
            [FromAgent::Refused { message }] => {
                assert!(message.contains("protocol 99 (berth 0.0.1)"), "{message}");
                assert!(message.contains(BERTH_VERSION), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_handshake_names_the_missing_blobs_and_bye_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut wire = Vec::new();
        protocol::write(
            &mut wire,
            &ToAgent::Hello {
                protocol: PROTOCOL,
                berth: BERTH_VERSION.into(),
                target_directory: dir.path().join("deployment"),
                lock: Some(berth_engine::target::LockRequest {
                    owner: "t@x".into(),
                    command: "test".into(),
                    break_lock: false,
                }),
                blobs: vec!["0".repeat(64)],
                flush_each: false,
            },
        )
        .unwrap();
        protocol::write(&mut wire, &ToAgent::Bye).unwrap();
        match answers(wire).as_slice() {
            [FromAgent::Ready { missing, .. }, FromAgent::Bye] => {
                assert_eq!(missing, &["0".repeat(64)]);
            }
            other => panic!("{other:?}"),
        }
        // The lock was taken and released.
        assert!(dir.path().join("deployment").is_dir());
        assert!(
            !dir.path()
                .join("deployment")
                .join(berth_engine::lock::LOCK_FILE)
                .exists()
        );
    }

    #[test]
    fn home_paths_expand() {
        assert_eq!(
            expand_home(Path::new("~/deployment"), Path::new("/home/a")),
            PathBuf::from("/home/a/deployment")
        );
        assert_eq!(
            expand_home(Path::new("~"), Path::new("/home/a")),
            PathBuf::from("/home/a")
        );
        assert_eq!(
            expand_home(Path::new("/srv/x"), Path::new("/home/a")),
            PathBuf::from("/srv/x")
        );
    }
}
