//! ONT benchmark: `cargo run --release -p ledgerloop-sim --example bench_ont [devices] [days] [seed]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let devices: Option<u64> = args.next().map(|a| a.parse()).transpose()?;
    let days: Option<u32> = args.next().map(|a| a.parse()).transpose()?;
    let seed: Option<u64> = args.next().map(|a| a.parse()).transpose()?;
    let report = ledgerloop_sim::bench::bench_sim(devices, days, seed)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
