//! `ledgerloop agent <role>`: one agent of a mesh in its own process, and the signal
//! handling shared with `mesh` (SIGTERM or Ctrl-C stops after the work in hand).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::mesh::agent::actor::serve;
use ledgerloop_runtime::mesh::agent::AgentSettings;
use ledgerloop_runtime::mesh::jetstream::JetStreamLog;
use ledgerloop_runtime::mesh::run::connect;
use ledgerloop_runtime::step::Role;

use super::mesh::NatsArgs;

/// Examples of `ledgerloop agent`.
pub const EXAMPLES: &str = "\
Examples:
  # The DriftJudge of the ont-offline mesh, on its own (the host runs with --agent-mode external).
  ledgerloop agent drift_judge --nats nats://127.0.0.1:4222 --scenario ont-offline
  # As its own user of a `mesh-config` server.
  ledgerloop agent releaser --nats nats://127.0.0.1:4222 --scenario ont-offline \\
      --user releaser --password-file mesh-conf/users/releaser.password

Roles: perceiver, drift_judge, trainer, distiller, evaluator, releaser.
SIGTERM or Ctrl-C: the call in hand is finished and answered, then the agent exits.";

/// Arguments of `ledgerloop agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The role: perceiver, drift_judge, trainer, distiller, evaluator or releaser.
    pub role: String,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Scenario name (the `ll.<scenario>.` subject prefix), e.g. ont-offline.
    #[arg(long)]
    pub scenario: String,
    /// Folder for input blobs fetched from the object store; defaults to
    /// `out/agent-<scenario>-<role>-blobs`.
    #[arg(long)]
    pub blob_cache: Option<PathBuf>,
    /// Test hook: abort right after this many appends, before answering.
    #[arg(long, hide = true)]
    pub crash_after_appends: Option<u64>,
}

/// Runs one agent until SIGTERM or Ctrl-C.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let role = Role::parse(&args.role).with_context(|| {
        format!(
            "unknown role `{}`; hint: one of perceiver, drift_judge, trainer, distiller, \
             evaluator, releaser",
            args.role
        )
    })?;
    let options = args.nats.options()?;
    let blob_cache = args.blob_cache.clone().unwrap_or_else(|| {
        PathBuf::from("out").join(format!("agent-{}-{}-blobs", args.scenario, role.name()))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let restarts = runtime.block_on(async {
        // Listen before connecting, so a SIGTERM during start-up is a clean stop too.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        let client = connect(&options).await?;
        let log = JetStreamLog::open(client.clone(), &args.scenario, &options.stream).await?;
        let settings = AgentSettings {
            role,
            log,
            blob_cache,
            crash_after_appends: args.crash_after_appends,
        };
        anyhow::Ok(serve(client, settings, shutdown).await?)
    })?;
    tracing::info!(agent = role.name(), restarts, "agent process exits");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signalled() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// A flag set on SIGTERM or SIGINT, watched by a thread of its own (the mesh host runs
/// its own runtime).
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(signalled());
            eprintln!("signal received: stopping after the current simulated hour");
            set.store(true, Ordering::SeqCst);
        })?;
    Ok(flag)
}
