//! Runs any scenario with the static policy and prints the summary table:
//! `cargo run -p ledgerloop-sim --example print_table -- scenarios/intent.toml [k=v]...`

use std::path::PathBuf;

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::run_scenario;
use ledgerloop_sim::summary::Summary;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: print_table SCENARIO [key=value]...")?,
    );
    let overrides: Vec<String> = args.collect();
    let scenario = Scenario::load(&path, &overrides)?;
    let started = std::time::Instant::now();
    let out = run_scenario(&scenario, &mut StaticPolicy::default())?;
    print!("{}", Summary::new(&scenario, out)?.table());
    eprintln!("elapsed {:?}", started.elapsed());
    Ok(())
}
