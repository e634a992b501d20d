//! Progress bars on standard error for the long commands (`sim`, `audit`).
//!
//! A bar is drawn only when standard error is a terminal and `--quiet` was not given;
//! otherwise nothing is created and nothing is written, so redirected output holds no
//! control characters. Bars only watch: the simulator shows them its records after they
//! were written and the auditor its progress, so a run's outputs are the same bytes
//! with or without a bar.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ledgerloop_events::FileLog;
use ledgerloop_runtime::audit::{AuditProgress, AuditStage};
use ledgerloop_sim::sink::{RunObserver, SimRecord};

/// Whether bars may be drawn at all (set once from `--quiet`).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// The bar on screen, if any; log lines hide it while they are written.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// `--quiet` turns every bar off.
pub fn set_quiet(quiet: bool) {
    ENABLED.store(!quiet, Ordering::Relaxed);
}

/// Runs `write` with the active bar (if any) hidden, so the output lands above the bar.
pub fn suspended(write: impl FnOnce()) {
    let bar = ACTIVE.lock().ok().and_then(|active| active.clone());
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// A bar on standard error, removed from the screen when dropped (also on an error).
#[derive(Debug)]
struct Bar(ProgressBar);

impl Bar {
    /// A bar of `len` steps drawn with `template`, or `None` when bars are off or
    /// standard error is not a terminal.
    fn new(len: u64, template: &str) -> Option<Bar> {
        if !ENABLED.load(Ordering::Relaxed) || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
            .with_style(style(template));
        // A tick every 200 ms keeps the elapsed time moving during a long day.
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(bar.clone());
        }
        Some(Bar(bar))
    }
}

/// The style of `template`. The templates are constants of this file; a bad one falls
/// back to the default style rather than failing the command.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
        self.0.finish_and_clear();
    }
}

const SIM_TEMPLATE: &str = "{spinner} day {pos}/{len} [{bar:20}] {msg} | {elapsed}, ETA {eta}";

/// Progress of `ledgerloop sim`: simulated day, events written per second (the log's
/// length, all streams) and readings per second, with an ETA from the days done.
#[derive(Debug)]
pub struct SimProgress {
    bar: Option<Bar>,
    log: FileLog,
    started: Instant,
    events_at_start: u64,
    readings: u64,
}

impl SimProgress {
    /// Watches a run of `days` days writing to `log` (a clone of the run's handle, only
    /// read).
    pub fn new(log: FileLog, days: u32) -> Self {
        let events_at_start = log.len().unwrap_or(0);
        let bar = Bar::new(u64::from(days), SIM_TEMPLATE);
        if let Some(bar) = &bar {
            bar.0.set_message("warm-up and first models");
        }
        Self {
            bar,
            log,
            started: Instant::now(),
            events_at_start,
            readings: 0,
        }
    }

    fn day_done(&mut self, day: u32, readings: u64) {
        self.readings += readings;
        let Some(bar) = &self.bar else { return };
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let events = self.log.len().unwrap_or(0) - self.events_at_start;
        bar.0.set_position(u64::from(day) + 1);
        bar.0.set_message(format!(
            "{events} events ({:.0}/s), {:.0} readings/s",
            events as f64 / secs,
            self.readings as f64 / secs
        ));
    }
}

impl RunObserver for SimProgress {
    fn observe(&mut self, _time: DateTime<Utc>, record: &SimRecord<'_>) {
        match record {
            SimRecord::DayClosed(day) => self.day_done(day.day, day.served.rows),
            SimRecord::RecommendDayClosed(day) => self.day_done(day.day, day.sessions),
            SimRecord::ScenarioStarted(_)
            | SimRecord::BaselineTrained(_)
            | SimRecord::ScenarioFinished { .. } => {}
        }
    }
}

const AUDIT_TEMPLATE: &str = "{spinner} {msg} {pos}/{len} [{bar:20}] | {elapsed}, ETA {eta}";

/// A stage whose length is unknown shows no bar, only that it is alive.
const AUDIT_SPINNER: &str = "{spinner} {msg} | {elapsed}";

/// Progress of `ledgerloop audit`: verification, then the agents' inputs replayed, then
/// (with `--deep`) the workers re-run.
#[derive(Debug)]
pub struct AuditBar {
    bar: Option<Bar>,
    stage: Option<AuditStage>,
}

impl AuditBar {
    /// A bar (or nothing, see the module documentation).
    pub fn new() -> Self {
        Self {
            bar: Bar::new(0, AUDIT_SPINNER),
            stage: None,
        }
    }

    /// Shows where the audit is.
    pub fn update(&mut self, now: AuditProgress) {
        if self.stage != Some(now.stage) {
            self.stage = Some(now.stage);
            tracing::debug!(stage = ?now.stage, steps = now.total, "audit stage started");
            if let Some(bar) = &self.bar {
                let template = if now.total == 0 {
                    AUDIT_SPINNER
                } else {
                    AUDIT_TEMPLATE
                };
                // Every call may redraw, so the style, which shows the new figures,
                // comes last.
                bar.0.reset();
                bar.0.set_length(now.total);
                bar.0.set_message(match now.stage {
                    AuditStage::Verify => "verifying checksums and hash chains",
                    AuditStage::Replay => "replaying the agents' inputs",
                    AuditStage::Deep => "re-running the workers",
                });
                bar.0.set_style(style(template));
            }
        }
        if let Some(bar) = &self.bar {
            bar.0.set_position(now.done);
        }
    }
}
