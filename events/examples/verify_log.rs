//! Verifies the log in DIR and prints events/s, for profiling: `verify_log DIR`.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: verify_log DIR"))?;
    let start = Instant::now();
    let report = ledgerloop_events::verify::verify(dir.as_ref(), Default::default())?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} events in {secs:.2} s: {:.0} events/s",
        report.events,
        report.events as f64 / secs
    );
    Ok(())
}
