//! The host's side of agent calls over NATS: each call is a request on the agent's input
//! subject, retried (with the same content, so the agent recognises it) while the agent
//! is unreachable or restarting, up to [`CALL_DEADLINE`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{io, Error, Result};
use crate::host::{AgentCall, AgentReply, RemoteAgents, INPUTS_DIR};
use crate::journal::call_batch;
use crate::mesh::agent::{AgentResponse, CallFailure};
use crate::mesh::metrics::Metrics;
use crate::mesh::run::Mirror;
use crate::mesh::subjects;

/// How long one call may take in all, retries included (an agent process restarts and
/// rebuilds itself from the log within it).
pub const CALL_DEADLINE: Duration = Duration::from_secs(300);
/// How long one attempt waits for the answer. Deciding takes milliseconds; an attempt
/// lost with a crashed agent is sent again after this long (the restarted agent answers
/// the repeats of a call it already stored from the log).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Blob files already in the object store, as `folder/name` (shared with the mirror, so
/// nothing is uploaded twice).
pub type Mirrored = Arc<Mutex<BTreeSet<String>>>;

/// Agent calls over NATS request/reply.
pub struct NatsAgents {
    client: async_nats::Client,
    runtime: tokio::runtime::Handle,
    scenario: String,
    mirror: Mirror,
    inputs_dir: PathBuf,
    mirrored: Mirrored,
    retries: u64,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for NatsAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAgents")
            .field("scenario", &self.scenario)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl NatsAgents {
    /// Calls agents of `scenario` through `client`; input blobs are read from
    /// `inputs_dir` and uploaded to the scenario's object store before the call needing
    /// them. Blocking: call from a plain thread, not a runtime worker.
    pub fn new(
        client: async_nats::Client,
        runtime: tokio::runtime::Handle,
        scenario: &str,
        mirror: Mirror,
        inputs_dir: PathBuf,
        mirrored: Mirrored,
    ) -> Self {
        Self {
            client,
            runtime,
            scenario: scenario.to_string(),
            mirror,
            inputs_dir,
            mirrored,
            retries: 0,
            metrics: None,
        }
    }

    /// Counts every call's batch, mailbox depth and retries into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Calls sent again so far.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Counts a finished call's batch as the agent appended it.
    fn count(&self, call: &AgentCall, reply: &AgentReply, started: Instant) -> Result<()> {
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        let role = call.header.role.name();
        metrics.set_mailbox_depth(role, 0);
        if reply.repeated {
            return Ok(());
        }
        let events = reply
            .decisions
            .iter()
            .map(|(_, w)| w.event())
            .collect::<Result<Vec<_>>>()?;
        let (batch, _) = call_batch(&call.header, call.record.clone(), &events)?;
        metrics.record(role, &batch, started.elapsed().as_secs_f64());
        Ok(())
    }

    fn upload_blob(&self, sha: &str) -> Result<()> {
        let name = format!("{sha}.gz");
        let key = format!("{INPUTS_DIR}/{name}");
        if self.mirrored.lock().is_ok_and(|m| m.contains(&key)) {
            return Ok(());
        }
        let path = self.inputs_dir.join(&name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        super::super::run::retry_outage(|| {
            self.runtime
                .block_on(self.mirror.put(INPUTS_DIR, &name, &bytes))
        })?;
        if let Ok(mut m) = self.mirrored.lock() {
            m.insert(key);
        }
        Ok(())
    }

    async fn attempt(&self, subject: &str, payload: &[u8]) -> Option<AgentResponse> {
        let request = self
            .client
            .request(subject.to_string(), payload.to_vec().into());
        match tokio::time::timeout(ATTEMPT_TIMEOUT, request).await {
            Ok(Ok(message)) => match serde_json::from_slice::<AgentResponse>(&message.payload) {
                Ok(response) => Some(response),
                Err(e) => Some(Err(CallFailure {
                    reason: format!("unreadable answer: {e}"),
                    retry: false,
                    refused: None,
                })),
            },
            Ok(Err(e)) => {
                tracing::debug!(%subject, error = %e, "agent call not answered; retrying");
                None
            }
            Err(_) => {
                tracing::warn!(%subject, "agent call timed out; retrying");
                None
            }
        }
    }
}

impl RemoteAgents for NatsAgents {
    fn call(&mut self, call: &AgentCall) -> Result<AgentReply> {
        if let Some(sha) = &call.record.blob_sha256 {
            self.upload_blob(sha)?;
        }
        let role = call.header.role.name();
        let subject = subjects::agent_inputs(&self.scenario, role);
        let payload = serde_json::to_vec(call)?;
        let started = Instant::now();
        let deadline = started + CALL_DEADLINE;
        let mut pause = Duration::from_millis(20);
        if let Some(metrics) = &self.metrics {
            metrics.set_mailbox_depth(role, 1);
        }
        loop {
            let last = match self.runtime.block_on(self.attempt(&subject, &payload)) {
                Some(Ok(reply)) => {
                    self.count(call, &reply, started)?;
                    return Ok(reply);
                }
                Some(Err(CallFailure {
                    refused: Some(refusal),
                    ..
                })) => {
                    if let Some(metrics) = &self.metrics {
                        metrics.set_mailbox_depth(role, 0);
                    }
                    return Err(refusal.error(call.header.role));
                }
                Some(Err(failure)) if !failure.retry => {
                    return Err(Error::Mesh {
                        reason: format!(
                            "{role} refused call {}: {}",
                            call.header.record_id, failure.reason
                        ),
                    })
                }
                Some(Err(failure)) => failure.reason,
                None => "no answer".to_string(),
            };
            if Instant::now() >= deadline {
                return Err(Error::Mesh {
                    reason: format!(
                        "{role} did not answer call {} within {} s (last: {last}); is \
                         `ledgerloop agent {role}` running?",
                        call.header.record_id,
                        CALL_DEADLINE.as_secs()
                    ),
                });
            }
            self.retries += 1;
            if let Some(metrics) = &self.metrics {
                metrics.call_retried(role);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}
