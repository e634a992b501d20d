//! `mesh --agents processes`: one `ledgerloop agent <role>` child process per agent,
//! restarted whenever it exits while the run goes on (a process supervisor above the
//! actor supervisors inside each child). Each child's PID is written to
//! `<out>/agents/<role>.pid`, so operators (and tests) can signal one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{io, Error, Result};
use crate::step::Role;

/// How often the supervisor looks at its children.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Restarts of one agent process before the supervisor gives up on it.
pub const MAX_PROCESS_RESTARTS: u32 = 50;

/// How to start an agent process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The `ledgerloop` executable.
    pub exe: PathBuf,
    /// Arguments after `agent <role>` (server, scenario, stream, credentials).
    pub args: Vec<String>,
    /// Extra arguments per role for its first start only (test hooks).
    pub first_start_args: BTreeMap<Role, Vec<String>>,
    /// Folder of PID files and blob caches.
    pub dir: PathBuf,
    /// Per-role credentials folder: `<dir>/<role>.password` (user = role name).
    pub password_dir: Option<PathBuf>,
}

/// The agent processes and their supervisor thread.
#[derive(Debug)]
pub struct AgentProcesses {
    stop: Arc<AtomicBool>,
    restarts: Arc<Mutex<BTreeMap<Role, u32>>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl AgentProcesses {
    /// Starts one process per role and a thread that restarts any that exits.
    pub fn start(spec: ProcessSpec) -> Result<Self> {
        std::fs::create_dir_all(&spec.dir).map_err(io(&spec.dir))?;
        let mut children = BTreeMap::new();
        for role in Role::ALL {
            children.insert(role, spawn(&spec, role, true)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(Mutex::new(BTreeMap::new()));
        let thread = {
            let stop = stop.clone();
            let restarts = restarts.clone();
            std::thread::Builder::new()
                .name("agent-processes".into())
                .spawn(move || watch(spec, children, &stop, &restarts))
                .map_err(|e| Error::Mesh {
                    reason: format!("cannot start the process supervisor: {e}"),
                })?
        };
        Ok(Self {
            stop,
            restarts,
            thread: Some(thread),
        })
    }

    /// Restarts so far, per role.
    pub fn restarts(&self) -> BTreeMap<Role, u32> {
        self.restarts.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Asks every child to stop (SIGTERM), kills those that do not within the grace
    /// period, and returns the restarts per role.
    pub fn stop(mut self) -> Result<BTreeMap<Role, u32>> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|_| Error::Mesh {
                reason: "the process supervisor panicked".into(),
            })??;
        }
        Ok(self.restarts())
    }
}

impl Drop for AgentProcesses {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn pid_file(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.pid", role.name()))
}

fn spawn(spec: &ProcessSpec, role: Role, first: bool) -> Result<Child> {
    let mut command = Command::new(&spec.exe);
    command.arg("agent").arg(role.name()).args(&spec.args);
    command
        .arg("--blob-cache")
        .arg(spec.dir.join(format!("{}-blobs", role.name())));
    if let Some(dir) = &spec.password_dir {
        command
            .arg("--user")
            .arg(role.name())
            .arg("--password-file")
            .arg(dir.join(format!("{}.password", role.name())));
    }
    if first {
        if let Some(extra) = spec.first_start_args.get(&role) {
            command.args(extra);
        }
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Mesh {
            reason: format!(
                "cannot start `{} agent {}`: {e}",
                spec.exe.display(),
                role.name()
            ),
        })?;
    let path = pid_file(&spec.dir, role);
    std::fs::write(&path, child.id().to_string()).map_err(io(&path))?;
    Ok(child)
}

fn watch(
    spec: ProcessSpec,
    mut children: BTreeMap<Role, Child>,
    stop: &AtomicBool,
    restarts: &Mutex<BTreeMap<Role, u32>>,
) -> Result<()> {
    while !stop.load(Ordering::SeqCst) {
        for (role, child) in children.iter_mut() {
            let Ok(Some(status)) = child.try_wait() else {
                continue;
            };
            let count = {
                let mut r = restarts.lock().map_err(|_| Error::Mesh {
                    reason: "restart counts poisoned".into(),
                })?;
                let n = r.entry(*role).or_insert(0);
                *n += 1;
                *n
            };
            tracing::warn!(agent = role.name(), %status, restart = count, "agent process exited; restarting it");
            if count > MAX_PROCESS_RESTARTS {
                return Err(Error::Mesh {
                    reason: format!("agent {} exited {count} times; giving up", role.name()),
                });
            }
            *child = spawn(&spec, *role, false)?;
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
    for child in children.values() {
        terminate(child.id());
    }
    let deadline = Instant::now() + STOP_GRACE;
    for (role, child) in children.iter_mut() {
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(WATCH_INTERVAL);
        }
        if matches!(child.try_wait(), Ok(None)) {
            tracing::warn!(
                agent = role.name(),
                "agent process did not stop; killing it"
            );
            let _ = child.kill();
        }
        let _ = child.wait();
        let _ = std::fs::remove_file(pid_file(&spec.dir, *role));
    }
    Ok(())
}

/// Sends SIGTERM to a child this supervisor started (by PID, through `kill(1)`: the crate
/// forbids `unsafe`, which a direct `kill(2)` call would need).
fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
