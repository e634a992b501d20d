//! A real nats-server for tests: started on a free loopback port with a temporary
//! JetStream folder, killed (by its own PID) on drop. Never touches a server it did not
//! start.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A nats-server this test started.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// JetStream store folder (kept across restarts).
    pub store: PathBuf,
    config: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let store = dir.path().join("js");
        let mut server = NatsServer {
            child: None,
            port: free_port()?,
            store,
            config: None,
            _dir: dir,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server from a config file (which names its own port and store).
    pub fn start_with_config(config: &Path, port: u16, store: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = NatsServer {
            child: None,
            port,
            store: store.to_path_buf(),
            config: Some(config.to_path_buf()),
            _dir: dir,
        };
        server.spawn()?;
        Ok(server)
    }

    /// A free loopback port.
    pub fn free_port() -> anyhow::Result<u16> {
        free_port()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new("nats-server");
        match &self.config {
            Some(config) => {
                command.arg("-c").arg(config);
            }
            None => {
                command
                    .args(["-a", "127.0.0.1", "-p"])
                    .arg(self.port.to_string())
                    .arg("-js")
                    .arg("-sd")
                    .arg(&self.store);
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start nats-server (is it installed?): {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        self.spawn()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
