//! Wall and thread-CPU clocks for the figures. The machines this runs on are shared (2 cores,
//! several engineers building at once), so a wall-clock rate alone says as much about the
//! neighbours as about the code; the CPU time of the measuring thread (Linux
//! `/proc/thread-self/stat`) excludes the time the thread was descheduled. With
//! `RAYON_NUM_THREADS=1` all the measured work runs on that thread.

use std::time::Instant;

use crate::Result;

/// Kernel clock ticks per second in `/proc` (`USER_HZ`, fixed at 100 by the Linux ABI).
const USER_HZ: f64 = 100.0;
/// 0-based positions of `utime` and `stime` among the fields after the `(comm)` of
/// `/proc/<pid>/stat` (fields 14 and 15 of proc(5)).
const UTIME_FIELD: usize = 11;
const STIME_FIELD: usize = 12;

/// User + system CPU seconds of the calling thread; `None` off Linux.
fn thread_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // `comm` may contain spaces, so split after its closing parenthesis.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(UTIME_FIELD)? + ticks(STIME_FIELD)?) as f64 / USER_HZ)
}

/// A started pair of clocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    wall: Instant,
    cpu: Option<f64>,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu_s(),
        }
    }

    /// `(wall seconds, thread CPU seconds)` since `start`; the CPU figure is `None` when
    /// unavailable or below one tick (too coarse to divide by).
    pub(crate) fn elapsed(&self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, thread_cpu_s()) {
            (Some(a), Some(b)) if b - a >= 1.0 / USER_HZ => Some(b - a),
            _ => None,
        };
        (wall, cpu)
    }
}

/// Mean microseconds per call of `f(i)` as `(wall, thread CPU)`, after 100 warm-up calls;
/// the results are summed so the work is not elided.
pub(crate) fn time_per_call_us(
    iters: usize,
    mut f: impl FnMut(usize) -> Result<f32>,
) -> Result<(f64, Option<f64>)> {
    let iters = iters.max(1);
    let mut sink = 0f32;
    for i in 0..iters.min(WARM_UP_CALLS) {
        sink += f(i)?;
    }
    let clock = Clock::start();
    for i in 0..iters {
        sink += f(i)?;
    }
    let (wall, cpu) = clock.elapsed();
    std::hint::black_box(sink);
    let per_call = |s: f64| s * 1e6 / iters as f64;
    Ok((per_call(wall), cpu.map(per_call)))
}

/// Calls made before timing starts, so caches and branch predictors are warm.
const WARM_UP_CALLS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy loop of ~0.2 s is seen by both clocks, and the thread's CPU time cannot exceed
    /// the wall time it ran in (by more than one tick of rounding).
    #[test]
    fn cpu_clock_tracks_busy_work() {
        let clock = Clock::start();
        let mut x = 0u64;
        while clock.wall.elapsed().as_secs_f64() < 0.2 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let (wall, cpu) = clock.elapsed();
        assert!(wall >= 0.2);
        if cfg!(target_os = "linux") {
            let cpu = cpu.unwrap_or(0.0);
            assert!(
                cpu > 0.0 && cpu <= wall + 2.0 / USER_HZ,
                "cpu {cpu} wall {wall}"
            );
        }
    }
}
