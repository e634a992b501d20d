//! Prints the static / oracle curve of a scenario, for calibrating drift parameters:
//! `cargo run --release -p ledgerloop-sim --example ont_calibrate -- scenarios/ont-offline.toml [k=v]...`

use std::path::PathBuf;

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::run_scenario;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "scenarios/ont-offline.toml".into()),
    );
    let overrides: Vec<String> = args.collect();
    let scenario = Scenario::load(&path, &overrides)?;
    let t = std::time::Instant::now();
    let out = run_scenario(&scenario, &mut StaticPolicy::default())?;
    for d in &out.days {
        println!(
            "day {:3}  static acc {:.3} ba {:.3} f1 {:.3} | oracle acc {:.3} ba {:.3} | pos {}",
            d.day,
            d.static_arm.accuracy,
            d.static_arm.balanced_accuracy,
            d.static_arm.f1,
            d.oracle.accuracy,
            d.oracle.balanced_accuracy,
            d.static_arm.confusion.counts[2] + d.static_arm.confusion.counts[3],
        );
    }
    eprintln!("elapsed {:?}", t.elapsed());
    Ok(())
}
