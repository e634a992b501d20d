//! Export and import as JSON lines: one [`RecordedEvent`] per line, payload embedded as
//! raw JSON. Import re-appends each event with its original envelope, so the hashes come
//! out identical; any line whose hash does not match its content is refused.

use std::io::{BufRead, Write};

use crate::envelope::{NewEvent, RecordedEvent};
use crate::file_log::FileLog;
use crate::ids::StreamId;
use crate::log::ExpectedVersion;
use crate::{Error, Result};

/// Longest line accepted on import.
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// Consecutive events of one stream appended as one batch on import.
pub const IMPORT_BATCH_EVENTS: usize = 1_000;

/// Writes every event from `from` as one JSON line each; returns the count.
pub fn export(
    log: &FileLog,
    from: u64,
    stream: Option<&StreamId>,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut count = 0;
    for event in log.read_all(from)? {
        let event = event?;
        if stream.is_some_and(|s| *s != event.stream) {
            continue;
        }
        let line = serde_json::to_string(&event).map_err(|e| Error::InvalidEvent {
            reason: e.to_string(),
        })?;
        writeln!(out, "{line}").map_err(|e| Error::io("<export output>", e))?;
        count += 1;
    }
    out.flush().map_err(|e| Error::io("<export output>", e))?;
    Ok(count)
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImportReport {
    pub events: u64,
    /// Lines whose events were stored already (an import re-run after an interruption).
    pub already_stored: u64,
}

/// Appends the events of a JSON-lines export to `log`. Each line is checked (hash against
/// content) before anything from it is written; batches are atomic, and a re-run after an
/// interruption skips what is stored already.
pub fn import(log: &FileLog, input: &mut dyn BufRead, file_name: &str) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut batch: Vec<(u64, RecordedEvent)> = Vec::new();
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        // Reading is capped one byte past the limit, so an endless line cannot exhaust
        // memory before it is refused.
        let read = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut line)
            .map_err(|e| Error::io(file_name, e))?;
        line_no += 1;
        if read == 0 {
            break;
        }
        let bad = |reason: String| Error::BadInput {
            file: file_name.to_string(),
            line: line_no,
            reason,
        };
        if line.len() > MAX_LINE_BYTES {
            return Err(bad(format!(
                "line is {} bytes, over the limit of {MAX_LINE_BYTES}",
                line.len()
            )));
        }
        if line.trim().is_empty() {
            continue;
        }
        let event: RecordedEvent =
            serde_json::from_str(&line).map_err(|e| bad(format!("not an exported event: {e}")))?;
        if event.computed_hash() != event.hash {
            return Err(bad(format!(
                "hash of event {} does not match its content",
                event.id
            )));
        }
        let same_stream = batch.last().is_none_or(|(_, last)| {
            last.stream == event.stream && last.sequence + 1 == event.sequence
        });
        if !same_stream || batch.len() >= IMPORT_BATCH_EVENTS {
            flush(log, &mut batch, file_name, &mut report)?;
        }
        batch.push((line_no, event));
    }
    flush(log, &mut batch, file_name, &mut report)?;
    Ok(report)
}

/// Appends one recorded batch (consecutive events of one stream, as another backend
/// stored them) to `log`, preserving ids, times and hashes: the stored hashes are checked
/// after the append, so a batch that does not chain here is refused, naming `origin`.
/// Returns how many events were new (0 when the batch was stored already).
pub fn append_recorded(log: &FileLog, events: &[RecordedEvent], origin: &str) -> Result<u64> {
    let mut batch: Vec<(u64, RecordedEvent)> = events.iter().cloned().map(|e| (0, e)).collect();
    let mut report = ImportReport::default();
    for e in events {
        if e.computed_hash() != e.hash {
            return Err(Error::BadInput {
                file: origin.to_string(),
                line: 0,
                reason: format!("hash of event {} does not match its content", e.id),
            });
        }
    }
    for (i, pair) in batch.iter().enumerate().skip(1) {
        let prev = &events[i - 1];
        if pair.1.stream != prev.stream || pair.1.sequence != prev.sequence + 1 {
            return Err(Error::BadInput {
                file: origin.to_string(),
                line: 0,
                reason: format!(
                    "batch is not consecutive in one stream at event {}",
                    pair.1.id
                ),
            });
        }
    }
    flush(log, &mut batch, origin, &mut report)?;
    Ok(report.events)
}

fn flush(
    log: &FileLog,
    batch: &mut Vec<(u64, RecordedEvent)>,
    file_name: &str,
    report: &mut ImportReport,
) -> Result<()> {
    let Some((first_line, first)) = batch.first() else {
        return Ok(());
    };
    let first_line = *first_line;
    let stream = first.stream.clone();
    let expected = ExpectedVersion::Exact(first.sequence - 1);
    let bad = |reason: String| Error::BadInput {
        file: file_name.to_string(),
        line: first_line,
        reason,
    };
    let mut events = Vec::with_capacity(batch.len());
    for (_, e) in batch.iter() {
        let new = NewEvent::from_parts(
            e.id,
            e.time,
            e.actor.clone(),
            e.causation_id,
            e.correlation_id,
            e.event_type.clone(),
            e.schema_version,
            e.payload.clone(),
        )
        .map_err(|err| bad(err.to_string()))?;
        events.push(new);
    }
    let outcome = log
        .append(&stream, expected, events)
        .map_err(|err| match err {
            Error::Conflict { .. } | Error::IdempotencyMismatch { .. } => {
                bad(format!("cannot be imported here: {err}"))
            }
            other => other,
        })?;
    if outcome.already_stored {
        report.already_stored += batch.len() as u64;
    } else {
        report.events += batch.len() as u64;
    }
    // Read back what was stored and compare hashes: the import must reproduce the chain.
    let stored = log.read_stream(&stream, first.sequence, batch.len())?;
    for ((line, original), stored) in batch.iter().zip(&stored) {
        if original.hash != stored.hash {
            return Err(Error::BadInput {
                file: file_name.to_string(),
                line: *line,
                reason: format!(
                    "event {} stored with a different hash; its prev_hash does not chain here",
                    original.id
                ),
            });
        }
    }
    batch.clear();
    Ok(())
}
