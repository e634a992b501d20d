//! Prometheus metrics of a mesh run, served as text on `--metrics ADDR` (`GET /metrics`).
//!
//! The numbers come from what is appended to the log, so they count exactly what an
//! auditor will find: [`MeteredLog`] wraps the run's log, and every batch updates the
//! counters of its stream (each agent has its own stream), the append latency histogram
//! and the gauges read from facts (served accuracy per arm from `DayClosed`, labels spent,
//! drift alarms, the serving route from `ModelPromoted` / canary events via the route
//! the host publishes).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ledgerloop_events::log::{AppendOutcome, ExpectedVersion, SyncAppend};
use ledgerloop_events::{Event, EventKind, NewEvent, Result as LogResult, SharedLog, StreamId};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::error::{io, Result};

/// Upper bounds (seconds) of the append latency histogram.
pub const LATENCY_BUCKETS_S: [f64; 10] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];
/// Decision latencies kept per agent for the end-of-run percentiles (later calls only
/// update the histogram).
pub const MAX_LATENCY_SAMPLES: usize = 200_000;
/// Alerts waiting to be published; beyond this the oldest are dropped (and counted).
pub const MAX_PENDING_ALERTS: usize = 1_024;
/// Largest request the metrics endpoint reads.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Decision latency of one agent over a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Calls observed.
    pub calls: u64,
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
}

#[derive(Debug, Default, Clone)]
struct StreamCounters {
    batches: u64,
    inputs: u64,
    decisions: u64,
    facts: u64,
    latency_buckets: [u64; LATENCY_BUCKETS_S.len()],
    latency_sum_s: f64,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_S.len()],
    sum_s: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        self.count += 1;
        self.sum_s += seconds;
        for (i, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[i] += 1;
            }
        }
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        for (i, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{label},le=\"{bound}\"}} {}",
                self.buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label},le=\"+Inf\"}} {}\n{name}_sum{{{label}}} {}\n\
             {name}_count{{{label}}} {}",
            self.count, self.sum_s, self.count
        );
    }
}

#[derive(Debug, Default)]
struct State {
    decision_latency: BTreeMap<String, Histogram>,
    latency_samples_s: BTreeMap<String, Vec<f64>>,
    streams: BTreeMap<String, StreamCounters>,
    drift_alarms: BTreeMap<String, u64>,
    /// (detector, feature, evidence name) -> value, from the latest judgement of each
    /// detector and feature (alarm or notice).
    drift_evidence: BTreeMap<(String, String, String), f64>,
    accuracy: BTreeMap<String, f64>,
    labels_spent: u64,
    day: u32,
    route: Option<(String, Option<String>, f64)>,
    mailbox_depth: BTreeMap<String, u64>,
    call_retries: BTreeMap<String, u64>,
    alerts_pending: std::collections::VecDeque<crate::alerts::Alert>,
    alerts_total: BTreeMap<String, u64>,
    alerts_dropped: u64,
}

impl State {
    /// Keeps the evidence of the latest judgement of `detector` on `feature`.
    fn judged(&mut self, detector: &str, feature: Option<&str>, evidence: &BTreeMap<String, f64>) {
        let feature = feature.unwrap_or("").to_string();
        self.drift_evidence
            .retain(|(d, f, _), _| !(d == detector && *f == feature));
        for (name, value) in evidence {
            let key = (detector.to_string(), feature.clone(), name.clone());
            self.drift_evidence.insert(key, *value);
        }
    }
}

/// A sample value as the text format spells it (`+Inf`, `-Inf`, `NaN`).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

/// A label value with quotes, backslashes and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counters shared by the metered log and the endpoint.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    state: Arc<Mutex<State>>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still meaningful.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one appended batch of `stream`; `elapsed_s` is the time from handing the
    /// work over to the acknowledged append (an agent call's round trip for agents that
    /// append themselves).
    pub fn record(&self, stream: &str, events: &[NewEvent], elapsed_s: f64) {
        let mut state = self.lock();
        let counters = state.streams.entry(stream.to_string()).or_default();
        counters.batches += 1;
        counters.latency_sum_s += elapsed_s;
        for (i, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            if elapsed_s <= *bound {
                counters.latency_buckets[i] += 1;
            }
        }
        for e in events {
            let Ok(event) = Event::decode(&e.event_type, e.schema_version, &e.payload) else {
                continue;
            };
            if let Some(alert) = crate::alerts::alert_for(e.id, e.causation_id, e.time, &event) {
                *state
                    .alerts_total
                    .entry(alert.kind.name().to_string())
                    .or_default() += 1;
                if state.alerts_pending.len() >= MAX_PENDING_ALERTS {
                    state.alerts_pending.pop_front();
                    state.alerts_dropped += 1;
                }
                state.alerts_pending.push_back(alert);
            }
            let counters = state.streams.entry(stream.to_string()).or_default();
            match (&event, event.kind()) {
                (Event::InputRecorded(_), _) => counters.inputs += 1,
                (_, EventKind::Decision) => counters.decisions += 1,
                (_, EventKind::Fact) => counters.facts += 1,
            }
            match &event {
                Event::DriftDetected(d) => {
                    *state.drift_alarms.entry(d.drift_kind.clone()).or_default() += 1;
                    state.judged(&d.detector, d.feature.as_deref(), &d.evidence.0);
                }
                Event::DriftNoticed(d) => {
                    state.judged(&d.detector, d.feature.as_deref(), &d.evidence.0);
                }
                Event::DayClosed(d) => {
                    state.day = d.day;
                    state.labels_spent += d.labels_spent;
                    for (arm, metrics) in &d.arms {
                        if let Some(a) = metrics.get("accuracy") {
                            state.accuracy.insert(arm.clone(), *a);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Records one agent call: from the input handed over to its decisions logged.
    pub fn observe_call(&self, agent: &str, elapsed_s: f64) {
        let mut state = self.lock();
        state
            .decision_latency
            .entry(agent.to_string())
            .or_default()
            .observe(elapsed_s);
        let samples = state
            .latency_samples_s
            .entry(agent.to_string())
            .or_default();
        if samples.len() < MAX_LATENCY_SAMPLES {
            samples.push(elapsed_s);
        }
    }

    /// Per agent: calls observed, and the median and 99th percentile of the decision
    /// latency in microseconds (over the first [`MAX_LATENCY_SAMPLES`] calls).
    pub fn latency_percentiles_us(&self) -> BTreeMap<String, LatencySummary> {
        let state = self.lock();
        let mut out = BTreeMap::new();
        for (agent, samples) in &state.latency_samples_s {
            let mut sorted = samples.clone();
            sorted.sort_by(f64::total_cmp);
            let at = |q: f64| {
                let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
                sorted.get(i).map_or(0.0, |s| s * 1e6)
            };
            let calls = state.decision_latency.get(agent).map_or(0, |h| h.count);
            out.insert(
                agent.clone(),
                LatencySummary {
                    calls,
                    p50_us: at(0.50),
                    p99_us: at(0.99),
                },
            );
        }
        out
    }

    /// The alerts raised since the last call, oldest first.
    pub fn take_alerts(&self) -> Vec<crate::alerts::Alert> {
        self.lock().alerts_pending.drain(..).collect()
    }

    /// Sets the calls the host has handed to `agent` and not yet had answered (the
    /// agent's mailbox, seen from the host).
    pub fn set_mailbox_depth(&self, agent: &str, depth: u64) {
        self.lock().mailbox_depth.insert(agent.to_string(), depth);
    }

    /// Counts a call to `agent` that had to be sent again (no answer, agent restarting).
    pub fn call_retried(&self, agent: &str) {
        *self
            .lock()
            .call_retries
            .entry(agent.to_string())
            .or_default() += 1;
    }

    /// Records the serving route the host published.
    pub fn set_route(&self, champion: &str, canary: Option<&str>, fraction: f64) {
        self.lock().route = Some((champion.to_string(), canary.map(str::to_string), fraction));
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let state = self.lock();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "ll_inputs_handled_total",
            "counter",
            "Agent inputs recorded, per stream.",
        );
        family(
            "ll_decisions_emitted_total",
            "counter",
            "Decisions appended, per stream.",
        );
        family(
            "ll_facts_emitted_total",
            "counter",
            "Facts appended, per stream.",
        );
        family(
            "ll_batches_appended_total",
            "counter",
            "Batches appended, per stream.",
        );
        let mut lines = String::new();
        for (stream, c) in &state.streams {
            let l = format!("{{stream=\"{stream}\"}}");
            let _ = writeln!(lines, "ll_inputs_handled_total{l} {}", c.inputs);
            let _ = writeln!(lines, "ll_decisions_emitted_total{l} {}", c.decisions);
            let _ = writeln!(lines, "ll_facts_emitted_total{l} {}", c.facts);
            let _ = writeln!(lines, "ll_batches_appended_total{l} {}", c.batches);
        }
        out.push_str(&lines);
        let _ = writeln!(
            out,
            "# HELP ll_agent_mailbox_depth Calls handed to an agent and not yet answered.\n\
             # TYPE ll_agent_mailbox_depth gauge"
        );
        for (agent, depth) in &state.mailbox_depth {
            let _ = writeln!(out, "ll_agent_mailbox_depth{{agent=\"{agent}\"}} {depth}");
        }
        let _ = writeln!(
            out,
            "# HELP ll_alerts_total Alerts raised (published on ll.<scenario>.alerts), per \
             kind.\n# TYPE ll_alerts_total counter"
        );
        for (kind, n) in &state.alerts_total {
            let _ = writeln!(out, "ll_alerts_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP ll_alerts_dropped_total Alerts dropped before publishing (queue full).\n\
             # TYPE ll_alerts_dropped_total counter\nll_alerts_dropped_total {}",
            state.alerts_dropped
        );
        let _ = writeln!(
            out,
            "# HELP ll_agent_call_retries_total Agent calls sent again (no answer in time, \
             agent restarting).\n# TYPE ll_agent_call_retries_total counter"
        );
        for (agent, n) in &state.call_retries {
            let _ = writeln!(out, "ll_agent_call_retries_total{{agent=\"{agent}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP ll_append_latency_seconds Time from decision to acknowledged append.\n\
             # TYPE ll_append_latency_seconds histogram"
        );
        for (stream, c) in &state.streams {
            for (i, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "ll_append_latency_seconds_bucket{{stream=\"{stream}\",le=\"{bound}\"}} {}",
                    c.latency_buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "ll_append_latency_seconds_bucket{{stream=\"{stream}\",le=\"+Inf\"}} {}\n\
                 ll_append_latency_seconds_sum{{stream=\"{stream}\"}} {}\n\
                 ll_append_latency_seconds_count{{stream=\"{stream}\"}} {}",
                c.batches, c.latency_sum_s, c.batches
            );
        }
        let _ = writeln!(
            out,
            "# HELP ll_decision_latency_seconds Agent call: input handed over to its decisions \
             logged.\n# TYPE ll_decision_latency_seconds histogram"
        );
        for (agent, h) in &state.decision_latency {
            h.render(
                &mut out,
                "ll_decision_latency_seconds",
                &format!("agent=\"{agent}\""),
            );
        }
        let _ = writeln!(
            out,
            "# HELP ll_drift_alarms_total Drift alarms raised, per kind.\n\
             # TYPE ll_drift_alarms_total counter"
        );
        for (kind, n) in &state.drift_alarms {
            let _ = writeln!(out, "ll_drift_alarms_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP ll_drift_evidence The latest judgement's evidence per detector and \
             feature.\n# TYPE ll_drift_evidence gauge"
        );
        for ((detector, feature, name), value) in &state.drift_evidence {
            let _ = writeln!(
                out,
                "ll_drift_evidence{{detector=\"{}\",feature=\"{}\",name=\"{}\"}} {}",
                label(detector),
                label(feature),
                label(name),
                number(*value)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ll_accuracy Accuracy of each arm on the last closed day.\n\
             # TYPE ll_accuracy gauge"
        );
        for (arm, a) in &state.accuracy {
            let _ = writeln!(out, "ll_accuracy{{arm=\"{}\"}} {}", label(arm), number(*a));
        }
        let _ = writeln!(
            out,
            "# HELP ll_labels_spent_total Labels bought from the oracle.\n\
             # TYPE ll_labels_spent_total counter\nll_labels_spent_total {}\n\
             # HELP ll_day Last closed simulated day.\n# TYPE ll_day gauge\nll_day {}",
            state.labels_spent, state.day
        );
        if let Some((champion, canary, fraction)) = &state.route {
            let canary = canary.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                "# HELP ll_serving_info The serving route (value 1).\n\
                 # TYPE ll_serving_info gauge\n\
                 ll_serving_info{{champion=\"{champion}\",canary=\"{canary}\"}} 1\n\
                 # HELP ll_canary_fraction Share of the fleet the canary serves.\n\
                 # TYPE ll_canary_fraction gauge\nll_canary_fraction {fraction}"
            );
        }
        out
    }

    /// Serves `GET /metrics` on `addr` until the runtime stops; returns the bound address.
    pub async fn serve(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io(std::path::Path::new(&addr.to_string())))?;
        let bound = listener
            .local_addr()
            .map_err(io(std::path::Path::new(&addr.to_string())))?;
        let metrics = self.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let mut request = vec![0u8; MAX_REQUEST_BYTES];
                    let n = socket.read(&mut request).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&request[..n]);
                    let response = if head.starts_with("GET /metrics") {
                        let body = metrics.render();
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Ok(bound)
    }
}

/// A log that counts what is appended to it.
#[derive(Debug)]
pub struct MeteredLog {
    inner: SharedLog,
    metrics: Metrics,
}

impl MeteredLog {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: SharedLog, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }
}

impl SyncAppend for MeteredLog {
    fn append_sync(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> LogResult<AppendOutcome> {
        let start = Instant::now();
        let copy = events.clone();
        let outcome = self.inner.append_sync(stream, expected, events)?;
        if !outcome.already_stored {
            self.metrics
                .record(stream.as_str(), &copy, start.elapsed().as_secs_f64());
        }
        Ok(outcome)
    }

    fn close_sync(&self) -> LogResult<()> {
        self.inner.close_sync()
    }
}
