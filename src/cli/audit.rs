//! `ledgerloop audit` and `ledgerloop explain`: re-derive a log's decisions, and show
//! the causal chain of one event or model version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::audit::audit_with_progress;
use ledgerloop_runtime::explain::{explain, iteration_cost, render, render_cost};

use super::progress::AuditBar;
use super::Hint as _;

pub const AUDIT_EXAMPLES: &str = "\
Examples:
  # Checksums, hash chains, and every decision re-derived from its recorded input.
  ledgerloop audit out/ont-offline-seed7/log
  # Also re-train every model and re-run every evaluation and distillation (slower).
  ledgerloop audit out/ont-offline-seed7/log --deep
  # The report as JSON, for scripts (exit code 1 on a mismatch).
  ledgerloop audit out/ont-offline-seed7/log --json --quiet > audit.json";

pub const EXPLAIN_EXAMPLES: &str = "\
Examples:
  # Find the models a run trained (the model_id in each line)...
  ledgerloop log show out/ont-offline-seed7/log --stream workers | grep ModelTrained
  # ...then follow one back to the drift evidence that started its training.
  ledgerloop explain <model_id> --log out/ont-offline-seed7/log
  # Any event id works too, e.g. a promotion's from `log show ... --stream releaser`.
  ledgerloop explain <event-id> --log out/ont-offline-seed7/log --json";

/// Arguments of `ledgerloop audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The log directory (e.g. out/ont-offline-seed7/log).
    pub log: PathBuf,
    /// Folder of the stored inputs; defaults to `inputs/` beside the log.
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Also re-run every worker (first fit, training jobs, evaluations, distillations)
    /// from the recorded data and check every artifact hash and report.
    #[arg(long)]
    pub deep: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// With a `nats://` log: the scenario name of the mesh run.
    #[arg(long)]
    pub scenario: Option<String>,
    /// With a `nats://` log: the JetStream stream holding it.
    #[arg(long, default_value = ledgerloop_runtime::mesh::jetstream::EVENTS_STREAM)]
    pub stream: String,
}

/// Arguments of `ledgerloop explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// An event id (UUID) or a model version (e.g. tabular-0dc12d9c609884d3).
    pub target: String,
    /// The log directory.
    #[arg(long)]
    pub log: PathBuf,
    /// Print the chain as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Verifies the chains and re-derives every decision; exit 1 on any mismatch.
pub fn run_audit(mut args: AuditArgs) -> anyhow::Result<ExitCode> {
    // A mesh run is copied out of JetStream first and audited like a simulation.
    let _copy = match args.log.to_str() {
        Some(url) if url.starts_with("nats://") || url.starts_with("tls://") => {
            let scenario = args.scenario.clone().context(
                "auditing a JetStream log needs --scenario NAME (the ll.<NAME>. subjects)",
            )?;
            let mut options = ledgerloop_runtime::mesh::run::MeshOptions::new(url);
            options.stream = args.stream.clone();
            let copy = tempfile::tempdir()?;
            let report = super::mesh::export_nats(&options, &scenario, copy.path())
                .with_context(|| format!("copying {scenario} out of {url}"))?;
            eprintln!(
                "copied {} events and {} blobs out of {url}",
                report.events, report.blobs
            );
            args.log = copy.path().join("log");
            args.inputs = Some(copy.path().join(ledgerloop_runtime::host::INPUTS_DIR));
            Some(copy)
        }
        _ => None,
    };
    let inputs = args.inputs.clone().unwrap_or_else(|| {
        args.log
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join(ledgerloop_runtime::host::INPUTS_DIR)
    });
    tracing::info!(
        log = %args.log.display(),
        inputs = %inputs.display(),
        deep = args.deep,
        "audit started"
    );
    let mut bar = AuditBar::new();
    let report = audit_with_progress(&args.log, &inputs, args.deep, &mut |p| bar.update(p))
        .with_context(|| format!("auditing {}", args.log.display()))
        .hint(|| audit_hint(&args.log))?;
    drop(bar);
    tracing::info!(
        events = report.events,
        decisions = report.decisions_recorded(),
        rederived = report.decisions_rederived(),
        mismatches = report.mismatch_count,
        "audit finished"
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "hash chains and checksums: intact ({} events)",
            report.events
        );
        println!(
            "{:<12} {:>8} {:>10} {:>11}",
            "agent", "inputs", "decisions", "re-derived"
        );
        for (agent, a) in &report.agents {
            println!(
                "{agent:<12} {:>8} {:>10} {:>11}",
                a.inputs, a.decisions_recorded, a.decisions_rederived
            );
        }
        println!(
            "decisions re-derived: {} of {}; mismatches: {}",
            report.decisions_rederived(),
            report.decisions_recorded(),
            report.mismatch_count
        );
        if let Some(d) = &report.deep {
            println!(
                "deep: models {}/{} reproduced, failures {}/{}, evaluation reports {}/{}, \
                 students {}/{}",
                d.models_reproduced,
                d.models_checked,
                d.failures_reproduced,
                d.failures_checked,
                d.reports_reproduced,
                d.reports_checked,
                d.students_reproduced,
                d.students_checked
            );
            // Only the ranking path compares the stored weights with the re-derived ones.
            if d.artifacts_checked > 0 {
                println!(
                    "deep: stored artifacts {}/{} intact",
                    d.artifacts_intact, d.artifacts_checked
                );
            }
            for m in &d.mismatches {
                println!("DEEP MISMATCH {m}");
            }
        }
        for m in &report.mismatches {
            println!(
                "MISMATCH {} input #{} (position {}): {}",
                m.stream, m.input_sequence, m.input_position, m.reason
            );
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// How to fix a failed audit: most often the path is not a governed run's log.
fn audit_hint(log: &std::path::Path) -> String {
    if !log.join("FORMAT").is_file() {
        return format!(
            "{} is not an event log; give the log/ folder of a run, e.g. ledgerloop audit \
             out/ont-offline-seed7/log",
            log.display()
        );
    }
    "audit re-derives the agents' decisions, so it needs a governed run (`ledgerloop sim` \
     without --policy static); `ledgerloop log verify` checks any log's chains, and \
     --inputs DIR names the stored inputs if they moved"
        .to_string()
}

/// Prints the chain from the target back to its first cause.
pub fn run_explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let chain = explain(&args.log, &args.target)
        .with_context(|| format!("explaining {} in {}", args.target, args.log.display()))
        .hint(|| {
            format!(
                "the target is an event id or a model version of this log; `ledgerloop log \
                 show {} --stream workers` lists the models trained",
                args.log.display()
            )
        })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&chain)?);
    } else {
        for (i, link) in chain.iter().enumerate() {
            let arrow = match (i, &link.note) {
                (0, _) => "",
                (_, Some(_)) => "<- episode opened by ",
                _ => "<- caused by ",
            };
            println!("{arrow}{}", render(link));
        }
        if let Some(cost) = iteration_cost(&args.log, &chain)? {
            println!("{}", render_cost(&cost));
        }
    }
    Ok(ExitCode::SUCCESS)
}
