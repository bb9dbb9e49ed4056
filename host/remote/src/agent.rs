//! `berth agent`: the target's side of a remote deploy. It reads
//! [`ToAgent`] messages on stdin and answers on stdout; it never prints
//! anything else there.
//!
//! The agent checks the handshake, takes the deploy lock in the target
//! directory, and runs each request with the engine's
//! [`berth_engine::target::execute`], loading packages from its store and
//! compiling them into its own cache (`~/.berth/cache/`). Events go back
//! as they happen, written in batches (one write per root, not per step) so
//! that small messages do not wait on TCP acknowledgements. When stdin
//! ends (the controller is gone or was interrupted), no further step starts
//! and the lock is released.

use crate::protocol::{self, BERTH_VERSION, FromAgent, PROTOCOL, ToAgent};
use crate::store;
use berth_engine::event::{Event, Reporter};
use berth_engine::lock::{DeployLock, Holder};
use berth_engine::target::{self, HostRequest, Packages};
use berth_runtime::{Package, Runtime, RuntimeOptions};
use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Serves one controller on `input` and `output` until it says goodbye or
/// goes away. Returns an error only when the controller cannot be told.
pub fn serve(
    input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
) -> Result<(), protocol::ProtocolError> {
    let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(Box::new(
        BufWriter::with_capacity(1 << 16, output),
    )));
    let send = |message: &FromAgent| -> Result<(), protocol::ProtocolError> {
        let mut w = out
            .lock()
            .map_err(|_| protocol::ProtocolError::Invalid("the output lock is poisoned".into()))?;
        protocol::write(&mut *w, message)?;
        w.flush()?;
        Ok(())
    };
    let mut input = input;
    let Some(hello) = protocol::read::<ToAgent>(&mut input)? else {
        return Ok(());
    };
    let (target_directory, lock) = match hello {
        ToAgent::Hello {
            protocol,
            berth,
            target_directory,
            lock,
        } => {
            if let Some(message) = protocol::mismatch(protocol, &berth) {
                return send(&FromAgent::Refused { message });
            }
            (target_directory, lock)
        }
        other => {
            let message = format!("expected the handshake, got {other:?}");
            return send(&FromAgent::Refused { message });
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
                    return send(&FromAgent::Refused {
                        message: e.to_string(),
                    });
                }
            }
        }
    };
    send(&FromAgent::Ready {
        protocol: PROTOCOL,
        berth: BERTH_VERSION.to_string(),
    })?;

    // Requests arrive on a reader thread, so that the end of stdin is seen
    // while a request runs and stops it between steps.
    let cancel = Arc::new(AtomicBool::new(false));
    let (requests, incoming) = std::sync::mpsc::channel::<HostRequest>();
    {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            // Bye, the end of stdin, or garbage: no more work.
            while let Ok(Some(ToAgent::Deploy(request))) = protocol::read::<ToAgent>(&mut input) {
                if requests.send(request).is_err() {
                    break;
                }
            }
            cancel.store(true, Ordering::Relaxed);
        });
    }
    let reporter: Arc<dyn Reporter> = Arc::new(Stream { out: out.clone() });
    let mut packages: Option<StorePackages> = None;
    while let Ok(mut request) = incoming.recv() {
        let packages = match &mut packages {
            Some(p) => p,
            None => packages.insert(StorePackages::new(&home, request.memory_limit)),
        };
        for root in &mut request.roots {
            root.workdir = expand_home(&root.workdir, &home);
            if let Some(files) = &root.defdir_files {
                match store::materialize(&home, files) {
                    Ok(dir) => root.defdir = dir,
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
        let result = target::execute(&request, packages, &reporter, &cancel);
        send(&FromAgent::Done(result))?;
    }
    if let Some(lock) = lock
        && let Err(e) = lock.release()
    {
        // The controller may be gone; stderr reaches its log.
        eprintln!("berth agent: {e}");
    }
    Ok(())
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

/// Events back to the controller: written as they come, flushed when a
/// root is done (so one root's events make one write).
struct Stream {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Reporter for Stream {
    fn report(&self, event: &Event) {
        let flush = matches!(
            event,
            Event::ComponentFinished { .. }
                | Event::ComponentFailed { .. }
                | Event::ComponentSkipped { .. }
                | Event::Warning { .. }
        );
        if let Ok(mut w) = self.out.lock() {
            // A write error means the controller is gone; the reader thread
            // sees the end of stdin and stops the walk.
            let _ = protocol::write(&mut *w, &FromAgent::Event(event.clone()));
            if flush {
                let _ = w.flush();
            }
        }
    }
}

/// Packages loaded from the store by their sha256, compiled into the
/// agent's cache.
struct StorePackages {
    store: PathBuf,
    runtime: Result<Runtime, String>,
    loaded: HashMap<String, Package>,
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
}

impl Packages for StorePackages {
    fn package(&mut self, sha256: &str) -> Result<&Package, String> {
        if !self.loaded.contains_key(sha256) {
            let runtime = self.runtime.as_ref().map_err(Clone::clone)?;
            let path = self.store.join(sha256);
            let package = runtime.load(&path).map_err(|e| e.to_string())?;
            if package.sha256 != sha256 {
                return Err(format!(
                    "`{}` in the store has sha256 {}; remove it and deploy again",
                    path.display(),
                    package.sha256
                ));
            }
            self.loaded.insert(sha256.to_string(), package);
        }
        self.loaded
            .get(sha256)
            .ok_or_else(|| format!("package {sha256} is not loaded"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_protocol_is_refused_naming_both_versions() {
        let mut wire = Vec::new();
        protocol::write(
            &mut wire,
            &ToAgent::Hello {
                protocol: PROTOCOL + 1,
                berth: "0.0.1".into(),
                target_directory: "/nonexistent".into(),
                lock: None,
            },
        )
        .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
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
        serve(std::io::Cursor::new(wire), Shared(out.clone())).unwrap();
        let bytes = out.lock().unwrap().clone();
        match protocol::read::<FromAgent>(&mut bytes.as_slice()).unwrap() {
            Some(FromAgent::Refused { message }) => {
                assert!(message.contains("berth 0.0.1"), "{message}");
                assert!(message.contains(BERTH_VERSION), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn home_paths_expand() {
        assert_eq!(
            expand_home(Path::new("~/deployment"), Path::new("/home/a")),
            PathBuf::from("/home/a/deployment")
        );
        assert_eq!(
            expand_home(Path::new("/srv/x"), Path::new("/home/a")),
            PathBuf::from("/srv/x")
        );
    }
}
