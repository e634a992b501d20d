//! Appends 1,000,000 events of 256-byte payloads without fsync, for profiling the append
//! path (`perf record target/release/examples/append_profile`). Batches are clones of one
//! prepared batch with fresh ids, so preparation stays a small part of the profile.

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
    let template = (0..1000u64)
        .map(sample_event)
        .collect::<Result<Vec<_>, _>>()?;
    let mut timed = 0f64;
    for b in 0..1000u64 {
        let mut batch = template.clone();
        for (i, event) in batch.iter_mut().enumerate() {
            event.id = uuid::Uuid::from_u64_pair(b, i as u64);
        }
        let start = Instant::now();
        log.append(&stream, ExpectedVersion::Any, batch)?;
        timed += start.elapsed().as_secs_f64();
    }
    println!("{:.0} events/s", 1e6 / timed);
    Ok(())
}
