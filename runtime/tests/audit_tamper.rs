//! Forgeries the hash chain cannot see but the audit does: a decision edited and every
//! hash recomputed, and a stored input replaced.

#[path = "support/governed.rs"]
mod governed;

use std::path::Path;

use anyhow::{anyhow, Result};
use governed::*;
use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::{
    Event, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, NewEvent, RecordedEvent,
};
use ledgerloop_runtime::audit::AuditReport;

/// Copies `from` into `to` recursively (files and folders).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Rewrites the run in `src` into `dst` (a fresh log with every hash recomputed, and the
/// stored inputs copied), passing each event's payload through `edit` (which returns
/// `Some(new payload)` to alter it).
fn forge(
    src: &Path,
    dst: &Path,
    mut edit: impl FnMut(&RecordedEvent, &Event) -> Result<Option<Vec<u8>>>,
) -> Result<()> {
    copy_dir(&inputs_dir(src), &inputs_dir(dst))?;
    let options = FileLogOptions {
        fsync: FsyncPolicy::Never,
        ..FileLogOptions::default()
    };
    let forged = FileLog::open(log_dir(dst), options)?;
    let mut batch: Vec<NewEvent> = Vec::new();
    let mut batch_stream = None;
    for (r, e) in read_events(&log_dir(src))? {
        let payload = edit(&r, &e)?.unwrap_or_else(|| r.payload.clone());
        let new = NewEvent::from_parts(
            r.id,
            r.time,
            r.actor.clone(),
            r.causation_id,
            r.correlation_id,
            r.event_type.clone(),
            r.schema_version,
            payload,
        )?;
        // Consecutive events of one stream go in one batch, so global order is kept.
        if batch_stream.as_ref() != Some(&r.stream) {
            if let Some(stream) = batch_stream.take() {
                forged.append(&stream, ExpectedVersion::Any, std::mem::take(&mut batch))?;
            }
            batch_stream = Some(r.stream.clone());
        }
        batch.push(new);
    }
    if let Some(stream) = batch_stream {
        forged.append(&stream, ExpectedVersion::Any, batch)?;
    }
    forged.close()?;
    Ok(())
}

/// The governed run every test here starts from.
fn original(out: &Path) -> Result<()> {
    run_governed(out, &overrides_with(&["scenario.days=12"]), small_config()?)?;
    Ok(())
}

fn audit_of(out: &Path) -> Result<AuditReport> {
    audit_run(out)
}

/// The sequence of the `InputRecorded` a decision at `sequence` of `stream` follows.
fn input_before(events: &[(RecordedEvent, Event)], stream: &str, sequence: u64) -> Result<u64> {
    events
        .iter()
        .filter(|(r, e)| {
            r.stream.as_str() == stream
                && r.sequence < sequence
                && matches!(e, Event::InputRecorded(_))
        })
        .map(|(r, _)| r.sequence)
        .max()
        .ok_or_else(|| anyhow!("no input before {stream} #{sequence}"))
}

/// A rewritten but unaltered log is identical and passes the audit (the forger is faithful).
#[test]
fn faithful_copy_passes_audit() -> Result<()> {
    let src = tempfile::tempdir()?;
    let dst = tempfile::tempdir()?;
    original(src.path())?;
    forge(src.path(), dst.path(), |_, _| Ok(None))?;
    let a = read_events(&log_dir(src.path()))?;
    let b = read_events(&log_dir(dst.path()))?;
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter().zip(&b).all(|((x, _), (y, _))| x == y),
        "copy differs"
    );
    let report = audit_of(dst.path())?;
    assert!(report.passed(), "{:?}", report.mismatches);
    assert!(report.decisions_recorded() > 0);
    Ok(())
}

/// An edited VerdictIssued with recomputed hashes passes `verify` but fails the audit there.
#[test]
fn edited_decision_with_recomputed_hashes_fails_audit() -> Result<()> {
    let src = tempfile::tempdir()?;
    let dst = tempfile::tempdir()?;
    original(src.path())?;
    let mut altered: Option<(String, u64, String)> = None;
    forge(src.path(), dst.path(), |r, e| {
        let Event::VerdictIssued(v) = e else {
            return Ok(None);
        };
        if altered.is_some() {
            return Ok(None);
        }
        let mut v = v.clone();
        let (key, value) = v
            .evidence
            .0
            .iter_mut()
            .next()
            .ok_or_else(|| anyhow!("verdict without evidence"))?;
        *value += 0.125;
        altered = Some((r.stream.as_str().to_string(), r.sequence, key.clone()));
        Ok(Some(Event::VerdictIssued(v).to_payload_json()?))
    })?;
    let (stream, sequence, key) = altered.ok_or_else(|| anyhow!("the run issued no verdict"))?;
    assert_eq!(stream, "evaluator");

    // The forged log is internally consistent: every chain verifies.
    let verified = verify(
        &log_dir(dst.path()),
        VerifyOptions {
            decode_payloads: true,
        },
    )?;
    let events = read_events(&log_dir(dst.path()))?;
    assert_eq!(verified.events, events.len() as u64);
    let original = read_events(&log_dir(src.path()))?;
    let changed: Vec<_> = original
        .iter()
        .zip(&events)
        .filter(|((a, _), (b, _))| a.payload != b.payload)
        .map(|((a, _), _)| (a.stream.as_str().to_string(), a.sequence))
        .collect();
    assert_eq!(
        changed,
        vec![(stream.clone(), sequence)],
        "the forgery changed more"
    );

    let report = audit_of(dst.path())?;
    assert!(!report.passed(), "the audit accepted an edited {key}");
    let input = input_before(&events, &stream, sequence)?;
    let named = report
        .mismatches
        .iter()
        .find(|m| m.stream == stream && m.input_sequence == input)
        .ok_or_else(|| {
            anyhow!(
                "no mismatch at {stream} input #{input}: {:?}",
                report.mismatches
            )
        })?;
    assert!(named.reason.contains("VerdictIssued"), "{}", named.reason);
    let evaluator = &report.agents["evaluator"];
    assert_eq!(
        evaluator.decisions_rederived + 1,
        evaluator.decisions_recorded
    );
    Ok(())
}

/// A stored input blob replaced by another one is reported at the input that reads it.
#[test]
fn replaced_input_blob_fails_audit() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    original(out)?;
    let events = read_events(&log_dir(out))?;
    let with_blob: Vec<(String, u64, String)> = events
        .iter()
        .filter_map(|(r, e)| match e {
            Event::InputRecorded(i) => i
                .blob_sha256
                .clone()
                .map(|sha| (r.stream.as_str().to_string(), r.sequence, sha)),
            _ => None,
        })
        .collect();
    assert!(with_blob.len() >= 2, "too few stored inputs");
    let (stream, sequence, victim) = with_blob[with_blob.len() / 2].clone();
    let donor = with_blob
        .iter()
        .map(|(_, _, sha)| sha)
        .find(|sha| **sha != victim)
        .ok_or_else(|| anyhow!("every stored input is the same blob"))?;
    let blob = |sha: &str| inputs_dir(out).join(format!("{sha}.gz"));
    assert!(
        blob(&victim).exists(),
        "blob layout changed: {}",
        blob(&victim).display()
    );
    std::fs::copy(blob(donor), blob(&victim))?;

    // The log itself is untouched and verifies.
    verify(&log_dir(out), VerifyOptions::default())?;
    let report = audit_of(out)?;
    assert!(!report.passed());
    let named = report
        .mismatches
        .iter()
        .find(|m| m.stream == stream && m.input_sequence == sequence)
        .ok_or_else(|| {
            anyhow!(
                "no mismatch at {stream} #{sequence}: {:?}",
                report.mismatches
            )
        })?;
    assert!(named.reason.contains(&victim), "{}", named.reason);
    Ok(())
}
