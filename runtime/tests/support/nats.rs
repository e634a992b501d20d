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
    /// Starts a server with JetStream on a port the server picks itself (`-p -1`), so two
    /// tests running in parallel can never race for the same port.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let store = dir.path().join("js");
        let mut server = NatsServer {
            child: None,
            port: 0,
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
        let ports_dir = self._dir.path().join("ports");
        std::fs::create_dir_all(&ports_dir)?;
        let mut command = Command::new("nats-server");
        match &self.config {
            Some(config) => {
                command.arg("-c").arg(config);
            }
            None => {
                // Port 0 means "not chosen yet": the server picks one and reports it in its
                // ports file; a restart reuses the reported port.
                let port = if self.port == 0 {
                    "-1".to_string()
                } else {
                    self.port.to_string()
                };
                command
                    .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
                    .arg(&self.store);
            }
        }
        let child = command
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start nats-server (is it installed?): {e}"))?;
        let ports_file = ports_dir.join(format!("nats-server_{}.ports", child.id()));
        self.child = Some(child);
        let port = self.wait_for_ports_file(&ports_file)?;
        anyhow::ensure!(
            self.port == 0 || self.port == port,
            "nats-server listens on {port}, expected {}",
            self.port
        );
        self.port = port;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            self.ensure_running()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Waits until the server this test started writes its ports file (it does so once it
    /// listens) and returns the client port named there.
    fn wait_for_ports_file(&mut self, path: &Path) -> anyhow::Result<u16> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                if let Some(port) = client_port(&text) {
                    return Ok(port);
                }
            }
            self.ensure_running()?;
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails when the server process has already exited (for example, its port was taken).
    fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                anyhow::bail!(
                    "nats-server exited during start-up ({status}); is port {} taken?",
                    self.port
                );
            }
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

/// The client port in a ports file: `{"nats":["nats://127.0.0.1:PORT"],...}`.
fn client_port(text: &str) -> Option<u16> {
    let start = text.find("\"nats\":[\"")? + "\"nats\":[\"".len();
    let url = &text[start..];
    let url = &url[..url.find('"')?];
    url.rsplit(':').next()?.parse().ok()
}
