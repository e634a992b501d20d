//! Appends 1,000,000 events of 256-byte payloads without fsync, for profiling the append
//! path in isolation (`perf record cargo run --release --example append_profile`).

use std::time::Instant;

use ledgerloop_events::bench::sample_event;
use ledgerloop_events::{ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, StreamId};

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = FileLog::open(
        dir.path(),
        FileLogOptions {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        },
    )?;
    let stream = StreamId::new("bench")?;
    let batches: Vec<Vec<_>> = (0..1000u64)
        .map(|b| {
            (b * 1000..(b + 1) * 1000)
                .map(sample_event)
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    for batch in batches {
        log.append(&stream, ExpectedVersion::Any, batch)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0} events/s", 1e6 / secs);
    Ok(())
}
