//! Copying a JetStream log into an embedded log, so auditors can verify, audit, explain
//! and report on a mesh run offline with the same tools as a simulation.

use std::path::Path;

use ledgerloop_events::{FileLog, FileLogOptions, FsyncPolicy};
use serde::Serialize;

use crate::error::Result;
use crate::host::{ARTIFACTS_DIR, INPUTS_DIR};
use crate::mesh::jetstream::JetStreamLog;
use crate::mesh::run::{open_log, MeshOptions, Mirror};

/// What an export copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Messages (batches) read from JetStream.
    pub batches: u64,
    /// Events written to the embedded log.
    pub events: u64,
    /// Stored inputs and model weights downloaded (each checked against its SHA-256).
    pub blobs: u64,
}

/// Copies every batch of `log` into a new embedded log in `dir` (which must not hold a
/// log yet), batch by batch: ids, times, sequences and hashes are preserved and checked
/// after each append, so a batch that does not chain is refused with its message number.
pub async fn export_to_dir(log: &JetStreamLog, dir: &Path) -> Result<ExportReport> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(crate::Error::OutputExists {
            path: dir.to_path_buf(),
        });
    }
    let options = FileLogOptions {
        fsync: FsyncPolicy::Never,
        ..Default::default()
    };
    let target = FileLog::open(dir, options)?;
    let mut report = ExportReport::default();
    let last = log.last_message_sequence().await?;
    for sequence in 1..=last {
        let batch = log.read_batch(sequence).await?;
        let origin = format!("{}#{sequence}", log.stream().cached_info().config.name);
        report.events += ledgerloop_events::jsonl::append_recorded(&target, &batch, &origin)?;
        report.batches += 1;
    }
    // The export is made durable once at the end: a failed export is simply run again.
    target.close()?;
    Ok(report)
}

/// Copies `scenario`'s mesh run into `to` as a run folder an auditor can use offline:
/// the log into `to/log`, the stored inputs and model weights from the object store into
/// `to/inputs` and `to/artifacts`, and `summary.json` once the run has finished.
pub async fn export_run(options: &MeshOptions, scenario: &str, to: &Path) -> Result<ExportReport> {
    let (_client, log, _) = open_log(options, scenario).await?;
    let mut report = export_to_dir(&log, &to.join("log")).await?;
    let mirror = Mirror::open(&log, scenario).await?;
    for folder in [INPUTS_DIR, ARTIFACTS_DIR] {
        report.blobs += mirror.download(folder, &to.join(folder)).await? as u64;
    }
    // The summary lets `ledgerloop report` draw the run's charts from the copy.
    if let Some(summary) = mirror.summary().await? {
        let path = to.join(crate::mesh::run::SUMMARY_OBJECT);
        std::fs::write(&path, summary).map_err(crate::error::io(&path))?;
    }
    Ok(report)
}
