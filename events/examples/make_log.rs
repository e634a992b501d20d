//! Writes a log of N events with 256-byte payloads (no fsync) into DIR, for profiling
//! `ledgerloop log verify` and the read path: `make_log DIR N`.

use ledgerloop_events::bench::sample_event;
use ledgerloop_events::{ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, StreamId};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: make_log DIR N"))?;
    let n: u64 = args.next().unwrap_or_else(|| "1000000".into()).parse()?;
    let log = FileLog::open(
        &dir,
        FileLogOptions {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        },
    )?;
    let stream = StreamId::new("bench")?;
    let mut i = 0;
    while i < n {
        let batch = (i..(i + 1000).min(n))
            .map(sample_event)
            .collect::<Result<Vec<_>, _>>()?;
        i += batch.len() as u64;
        log.append(&stream, ExpectedVersion::Any, batch)?;
    }
    log.close()?;
    Ok(())
}
