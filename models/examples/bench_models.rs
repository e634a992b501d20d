//! Prints the benchmark figures as JSON lines (what `ledgerloop bench models` shows):
//! `RAYON_NUM_THREADS=1 cargo run --release -p ledgerloop-models --example bench_models`.

fn main() -> Result<(), ledgerloop_models::Error> {
    for f in ledgerloop_models::bench::all_figures()? {
        println!("{}", serde_json::to_string(&f)?);
    }
    Ok(())
}
