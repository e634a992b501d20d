//! One agent of the mesh, living in its own actor (and, with `ledgerloop agent <role>`,
//! its own process): it takes calls on `ll.<scenario>.in.<role>`, decides, appends the
//! call to its own event stream in JetStream, and answers with its decisions.
//!
//! Its state is only ever the fold of its stream (see `restore.rs`): an agent that
//! starts, or restarts after a crash, reads the log and folds its recorded calls; the
//! keys of the inputs it handled come out of the same walk. A call it already handled
//! (the host retries a call whose answer it never got) is answered with the decisions
//! recorded then and never decided again. Decision ids derive from the record's id, and
//! the batch's message id is the record's id, so even an append repeated by a retry is
//! stored once.
//!
//! * `agent/actor.rs`: the ractor actor and its supervisor, and the NATS serving loop;
//! * `agent/client.rs`: the host's side, sending calls over NATS and retrying them;
//! * `agent/processes.rs`: `mesh --agents processes`, one supervised child process per
//!   agent.

pub mod actor;
pub mod client;
pub mod processes;

use std::collections::BTreeSet;
use std::path::PathBuf;

use ledgerloop_events::{Event, EventLog as _, ExpectedVersion, StreamId};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use crate::blobs::{sha256_hex, BlobStore};
use crate::config::GovernedConfig;
use crate::error::{io, nats, Error, Result};
use crate::host::{AgentCall, AgentReply, WireEvent};
use crate::journal::{call_batch, input_of, HOST_STREAM};
use crate::mesh::jetstream::JetStreamLog;
use crate::mesh::run::bucket;
use crate::restore::{decisions_for_key, input_key, restore, InputKey, LogView};
use crate::step::{apply, Agents, Role, States};

/// Why a call failed, as the host is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallFailure {
    /// What went wrong.
    pub reason: String,
    /// Worth retrying (the log or the server failed, the agent restarts); `false` when
    /// the call itself is refused and would be refused again.
    pub retry: bool,
    /// The decider refused the request under its policy (nothing was decided).
    #[serde(default)]
    pub refused: Option<Refusal>,
}

/// A decider's refusal, carried back to the host as it was raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The model or command refused.
    pub subject: String,
    /// Which rule forbids it.
    pub reason: String,
}

impl Refusal {
    /// The refusal inside a decider's error, if that is what it is.
    pub fn of(e: &Error) -> Option<Refusal> {
        match e {
            Error::Agent {
                source:
                    ledgerloop_agents::Error::Refused {
                        subject, reason, ..
                    },
                ..
            } => Some(Refusal {
                subject: subject.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    /// The error the host would have seen from a local call of `role`.
    pub fn error(&self, role: Role) -> Error {
        Error::Agent {
            agent: role.name(),
            source: ledgerloop_agents::Error::Refused {
                component: role.name(),
                subject: self.subject.clone(),
                reason: self.reason.clone(),
            },
        }
    }
}

/// What an agent sends back for one call.
pub type AgentResponse = std::result::Result<AgentReply, CallFailure>;

/// How a call failed inside the agent.
#[derive(Debug)]
pub enum Failed {
    /// Refused before the agent's state changed; the agent carries on.
    Rejected(Error),
    /// Failed after the state changed (or the log could not be written): the agent's
    /// state may be ahead of its stream, so it must restart and rebuild from the log.
    Poisoned(Error),
    /// The decider refused the input (a policy refusal, an invalid input): the same call
    /// would fail again, so it is not retried; the agent still rebuilds, in case the
    /// decider changed its state before refusing.
    Decider(Error),
}

/// An agent's state, rebuilt from the log, and what it needs to take calls.
#[derive(Debug)]
pub struct AgentCore {
    role: Role,
    log: JetStreamLog,
    blobs: BlobStore,
    agents: Option<Agents>,
    states: States,
    handled: BTreeSet<InputKey>,
    appends: u64,
    crash_after_appends: Option<u64>,
}

/// What an agent actor starts from (kept by its supervisor for restarts).
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The role.
    pub role: Role,
    /// The scenario's log.
    pub log: JetStreamLog,
    /// Local folder of input blobs fetched from the object store.
    pub blob_cache: PathBuf,
    /// Test hook: abort the process right after this many appends, before answering (a
    /// crash between "stored" and "told"). Never set in normal operation.
    pub crash_after_appends: Option<u64>,
}

impl AgentCore {
    /// Rebuilds the agent of `settings.role` from the log.
    pub async fn open(settings: AgentSettings) -> Result<Self> {
        let mut core = AgentCore {
            role: settings.role,
            log: settings.log,
            blobs: BlobStore::new(settings.blob_cache),
            agents: None,
            states: States::default(),
            handled: BTreeSet::new(),
            appends: 0,
            crash_after_appends: settings.crash_after_appends,
        };
        core.rebuild().await?;
        Ok(core)
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Inputs handled so far (rebuilt ones included).
    pub fn handled(&self) -> usize {
        self.handled.len()
    }

    /// The agent's states (only its own role's part is meaningful).
    pub fn states(&self) -> &States {
        &self.states
    }

    async fn rebuild(&mut self) -> Result<()> {
        let events = self.log.read_all(0, usize::MAX).await?;
        let view = LogView::of_events(events)?;
        let restored = restore(&view, self.role)?;
        self.states = restored.states;
        self.handled = restored.handled;
        self.agents = policies_in(view.events.iter().map(|(r, e)| (r.stream.as_str(), e)))?;
        tracing::info!(
            agent = self.role.name(),
            handled = self.handled.len(),
            policies = self.agents.is_some(),
            "agent rebuilt from the log"
        );
        Ok(())
    }

    /// The deciders, from the policies the host recorded (read again when the agent
    /// started before the host wrote them).
    async fn agents(&mut self) -> Result<&Agents> {
        if self.agents.is_none() {
            let host = self
                .log
                .read_stream(&StreamId::new(HOST_STREAM)?, 0, usize::MAX)
                .await?;
            let events: Vec<Event> = host.iter().map(|r| r.decode()).collect::<Result<_, _>>()?;
            self.agents = policies_in(events.iter().map(|e| (HOST_STREAM, e)))?;
        }
        self.agents.as_ref().ok_or_else(|| Error::Mesh {
            reason: "the log holds no PoliciesLoaded yet: the host has not started the run".into(),
        })
    }

    /// Handles one call: answered from the log when already handled, otherwise decided,
    /// appended to the agent's stream and answered.
    pub async fn handle(&mut self, call: &AgentCall) -> std::result::Result<AgentReply, Failed> {
        if call.header.role != self.role {
            return Err(Failed::Rejected(Error::Mesh {
                reason: format!(
                    "a call for {} reached the {} agent",
                    call.header.role.name(),
                    self.role.name()
                ),
            }));
        }
        let key = input_key(&call.record).map_err(Failed::Rejected)?;
        if self.handled.contains(&key) {
            return self.answer_from_log(&key).await.map_err(Failed::Poisoned);
        }
        let (input, hour) = self.input_of(call).await?;
        let agents = self.agents().await.map_err(Failed::Poisoned)?.clone();
        let decisions =
            apply(&agents, &mut self.states, self.role, hour, &input).map_err(Failed::Decider)?;
        self.append(call, &decisions)
            .await
            .map_err(Failed::Poisoned)?;
        self.handled.insert(key);
        self.appends += 1;
        if self.crash_after_appends == Some(self.appends) {
            tracing::error!(
                agent = self.role.name(),
                "test hook: crashing after an append"
            );
            std::process::abort();
        }
        let ids = crate::journal::call_batch(&call.header, call.record.clone(), &decisions)
            .map_err(Failed::Poisoned)?
            .1;
        let decisions = ids
            .into_iter()
            .zip(&decisions)
            .map(|(id, e)| Ok((id, WireEvent::of(e)?)))
            .collect::<Result<_>>()
            .map_err(Failed::Poisoned)?;
        Ok(AgentReply {
            decisions,
            repeated: false,
        })
    }

    async fn input_of(
        &mut self,
        call: &AgentCall,
    ) -> std::result::Result<(crate::step::Input, u64), Failed> {
        if let Some(sha) = &call.record.blob_sha256 {
            self.fetch_blob(sha).await.map_err(Failed::Poisoned)?;
        }
        let source = call
            .source
            .as_ref()
            .map(WireEvent::event)
            .transpose()
            .map_err(Failed::Rejected)?;
        let input = input_of(&call.record, source.as_ref(), &self.blobs).map_err(|reason| {
            Failed::Rejected(Error::Replay {
                stream: self.role.name().to_string(),
                sequence: 0,
                reason,
            })
        })?;
        Ok((input, call.header.hour))
    }

    async fn append(&self, call: &AgentCall, decisions: &[Event]) -> Result<()> {
        let (batch, _) = call_batch(&call.header, call.record.clone(), decisions)?;
        let stream = StreamId::new(self.role.name())?;
        self.log
            .append(&stream, ExpectedVersion::Any, batch)
            .await?;
        Ok(())
    }

    async fn answer_from_log(&self, key: &InputKey) -> Result<AgentReply> {
        let stream = StreamId::new(self.role.name())?;
        let own = self.log.read_stream(&stream, 0, usize::MAX).await?;
        let decisions = decisions_for_key(own, key)?.ok_or_else(|| Error::Replay {
            stream: self.role.name().to_string(),
            sequence: 0,
            reason: "an input marked handled has no recorded call".into(),
        })?;
        tracing::info!(
            agent = self.role.name(),
            decisions = decisions.len(),
            "call repeated: answered from the log"
        );
        Ok(AgentReply {
            decisions: decisions
                .iter()
                .map(|(id, e)| Ok((*id, WireEvent::of(e)?)))
                .collect::<Result<_>>()?,
            repeated: true,
        })
    }

    /// Copies a blob from the scenario's `inputs` object store into the local cache,
    /// unless it is there; the blob store checks it hashes to its name.
    async fn fetch_blob(&self, sha: &str) -> Result<()> {
        let name = format!("{sha}.gz");
        let path = self.blobs.dir().join(&name);
        if !path.exists() {
            let store = self
                .log
                .context()
                .get_object_store(bucket(self.log.scenario(), crate::host::INPUTS_DIR))
                .await
                .map_err(nats("object store inputs"))?;
            let mut object = store
                .get(&name)
                .await
                .map_err(nats(format!("get inputs/{name}")))?;
            let mut bytes = Vec::new();
            object
                .read_to_end(&mut bytes)
                .await
                .map_err(nats(format!("read inputs/{name}")))?;
            let dir = self.blobs.dir();
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let tmp = dir.join(format!("{name}.part"));
            std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
        }
        let bytes = self.blobs.get(sha)?;
        debug_assert_eq!(sha256_hex(&bytes), sha);
        Ok(())
    }
}

/// The deciders of the last `PoliciesLoaded` on the host stream, checked against the
/// digest recorded beside them.
fn policies_in<'a>(events: impl Iterator<Item = (&'a str, &'a Event)>) -> Result<Option<Agents>> {
    let mut last = None;
    for (stream, event) in events {
        if let (HOST_STREAM, Event::PoliciesLoaded(loaded)) = (stream, event) {
            last = Some(loaded);
        }
    }
    let Some(loaded) = last else {
        return Ok(None);
    };
    let digest = sha256_hex(&serde_json::to_vec(&loaded.policies)?);
    if digest != loaded.policies_sha256 {
        return Err(Error::Mesh {
            reason: format!(
                "PoliciesLoaded says {} but its policies hash to {digest}",
                loaded.policies_sha256
            ),
        });
    }
    let config: GovernedConfig =
        serde_json::from_value(loaded.policies.clone()).map_err(|e| Error::InvalidPolicy {
            path: "<PoliciesLoaded>".into(),
            reason: e.to_string(),
        })?;
    let agents = config.agents().map_err(|e| Error::InvalidPolicy {
        path: "<PoliciesLoaded>".into(),
        reason: e.to_string(),
    })?;
    Ok(Some(agents))
}
