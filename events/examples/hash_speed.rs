//! Measures the per-event costs on the append path: SHA-256, CRC-32 and the id map.

use std::time::Instant;

fn main() {
    let data = vec![7u8; 400];
    let n = 1_000_000u32;
    let start = Instant::now();
    let mut acc = 0u8;
    for i in 0..n {
        let mut d = data.clone();
        d[0] = i as u8;
        acc ^= ledgerloop_events::Hash::of(&d).0[0];
    }
    println!(
        "sha256 400 B: {:.0} ns/op ({acc})",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
    let start = Instant::now();
    let mut c = 0u32;
    for _ in 0..n {
        c ^= crc32fast::hash(&data);
    }
    println!(
        "crc32 400 B: {:.0} ns/op ({c})",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
    let start = Instant::now();
    let mut map = std::collections::HashMap::new();
    for i in 0..u64::from(n) {
        map.insert(uuid::Uuid::from_u64_pair(i, i), i);
    }
    println!(
        "id map insert: {:.0} ns/op",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
}
