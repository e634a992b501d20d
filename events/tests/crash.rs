//! Crash safety: a child process appending with fsync `always` is SIGKILLed at random
//! moments; after each restart every acknowledged append is present, no batch is
//! partial, and verify passes.

#[path = "support/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledgerloop_events::catalogue::OperatorNoted;
use ledgerloop_events::ids::deterministic_v7;
use ledgerloop_events::{
    Actor, Event, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, NewEvent, StreamId,
};
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "LEDGERLOOP_CRASH_CHILD_DIR";
const KILLS: usize = 50;

/// Child side: append batches forever, printing each acknowledged batch.
#[test]
fn crash_child_writer() -> anyhow::Result<()> {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return Ok(()); // Only meaningful when started by `kill_at_random_moments`.
    };
    let log = FileLog::open(
        &dir,
        FileLogOptions {
            fsync: FsyncPolicy::Always,
            ..Default::default()
        },
    )?;
    let stream = StreamId::new("crash")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(log.len()?);
    let mut out = std::io::stdout().lock();
    loop {
        let version = log.stream_version(&stream)?;
        let size = rng.gen_range(1..=8u64);
        let batch_id = rng.gen::<u64>();
        let events = (0..size)
            .map(|k| {
                let text = format!(
                    "{batch_id}:{size}:{k}:{}",
                    "p".repeat(rng.gen_range(0..600))
                );
                let payload = Event::OperatorNoted(OperatorNoted {
                    operator: "crash".into(),
                    text,
                });
                let mut random = [0u8; 10];
                rng.fill(&mut random);
                let time = helpers::time(version + k);
                NewEvent::new(
                    deterministic_v7(time, random),
                    time,
                    Actor::new("operator", "crash"),
                    &payload,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = log.append(&stream, ExpectedVersion::Exact(version), events)?;
        writeln!(out, "ACK {batch_id} {size} {}", outcome.last_sequence)?;
        out.flush()?;
    }
}

/// Kills the writer 50 times at random moments and checks the log after each restart.
#[test]
fn kill_at_random_moments() -> anyhow::Result<()> {
    if std::env::var(CHILD_ENV).is_ok() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261123);
    let mut acked: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut torn_tails = 0;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let wait = Duration::from_millis(rng.gen_range(5..80));
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        let start = Instant::now();
        while start.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        for line in reader.join().expect("reader thread") {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let ["ACK", id, size, last] = parts[..] {
                acked.insert(id.parse()?, (size.parse()?, last.parse()?));
            }
        }
        let log = FileLog::open(dir.path(), FileLogOptions::default())?;
        torn_tails += usize::from(log.open_report().torn_tail.is_some());
        check_complete_batches(&log, &acked, round)?;
        log.close()?;
        ledgerloop_events::verify::verify(dir.path(), Default::default())?;
    }
    eprintln!(
        "{KILLS} kills, {} acknowledged batches, {torn_tails} torn tails recovered",
        acked.len()
    );
    assert!(acked.len() >= KILLS / 2, "the child made progress");
    Ok(())
}

fn check_complete_batches(
    log: &FileLog,
    acked: &BTreeMap<u64, (u64, u64)>,
    round: usize,
) -> anyhow::Result<()> {
    let mut seen: BTreeMap<u64, (u64, Vec<u64>)> = BTreeMap::new();
    for event in log.read_all(0)? {
        let event = event?;
        let Event::OperatorNoted(note) = event.decode()? else {
            anyhow::bail!("unexpected type")
        };
        let mut parts = note.text.split(':');
        let id: u64 = parts.next().unwrap_or_default().parse()?;
        let size: u64 = parts.next().unwrap_or_default().parse()?;
        let entry = seen.entry(id).or_insert((size, Vec::new()));
        entry.1.push(event.sequence);
    }
    for (id, (size, sequences)) in &seen {
        assert_eq!(
            sequences.len() as u64,
            *size,
            "round {round}: batch {id} is partial: {sequences:?}"
        );
    }
    for (id, (size, last)) in acked {
        let (_, sequences) = seen
            .get(id)
            .unwrap_or_else(|| panic!("round {round}: acknowledged batch {id} lost"));
        assert_eq!(
            sequences.last(),
            Some(last),
            "round {round}: batch {id} of {size} at the wrong place"
        );
    }
    Ok(())
}
