//! The agent as a ractor actor under a supervisor, fed from its NATS input subject.
//!
//! The actor owns the [`AgentCore`]: it rebuilds it from the log in `pre_start`, so a
//! restart is a rebuild. A call that fails after the state changed makes the actor fail
//! on purpose; the supervisor restarts it (with a growing pause, at most
//! [`MAX_RESTARTS`] times in a row without a successful call) and the host retries the
//! call, which the rebuilt agent answers from the log if it had been stored.
//!
//! Mailboxes stay bounded because the serving loop hands the actor one call at a time
//! and waits for its answer; further calls wait in the NATS subscription, whose buffer
//! is [`SUBSCRIPTION_CAPACITY`] messages (the host itself has at most one call in
//! flight per agent).

use std::time::Duration;

use futures::StreamExt as _;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::watch;

use super::{AgentCore, AgentResponse, AgentSettings, CallFailure, Failed, Refusal};
use crate::error::{nats, Error, Result};
use crate::host::AgentCall;
use crate::mesh::subjects;

/// Restarts in a row (without a successful call in between) before the agent gives up.
pub const MAX_RESTARTS: u32 = 20;
/// Longest a call may wait for the actor (a rebuild reads the whole log).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Messages the input subscription buffers.
pub const SUBSCRIPTION_CAPACITY: usize = 64;
/// Queue group of an agent role's input subject (one instance answers each call).
pub const AGENT_QUEUE: &str = "agents";

/// Messages of an agent actor.
#[derive(Debug)]
pub enum AgentMsg {
    /// Handle a call and answer.
    Call(Box<AgentCall>, RpcReplyPort<AgentResponse>),
}

/// The agent actor.
#[derive(Debug)]
pub struct AgentActor;

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = AgentCore;
    type Arguments = AgentSettings;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        settings: AgentSettings,
    ) -> std::result::Result<AgentCore, ActorProcessingErr> {
        Ok(AgentCore::open(settings).await?)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: AgentMsg,
        core: &mut AgentCore,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let AgentMsg::Call(call, reply) = message;
        match core.handle(&call).await {
            Ok(answer) => {
                let _ = reply.send(Ok(answer));
                Ok(())
            }
            Err(Failed::Rejected(e)) => {
                let _ = reply.send(Err(failure(&e, false)));
                Ok(())
            }
            Err(Failed::Poisoned(e)) => {
                let _ = reply.send(Err(failure(&e, true)));
                // Failing the actor makes the supervisor rebuild it from the log.
                Err(Box::new(e))
            }
            Err(Failed::Decider(e)) => {
                let _ = reply.send(Err(failure(&e, false)));
                Err(Box::new(e))
            }
        }
    }
}

fn failure(e: &Error, retry: bool) -> CallFailure {
    CallFailure {
        reason: e.to_string(),
        retry,
        refused: Refusal::of(e),
    }
}

/// Messages of the supervisor: none but supervision events.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// A call succeeded: the restart count starts again.
    Healthy,
}

/// The supervisor of one agent actor.
#[derive(Debug)]
pub struct AgentSupervisor;

/// The supervisor's state.
#[derive(Debug)]
pub struct SupervisorState {
    settings: AgentSettings,
    current: watch::Sender<Option<ActorRef<AgentMsg>>>,
    restarts_in_a_row: u32,
    restarts: watch::Sender<u32>,
}

impl AgentSupervisor {
    async fn spawn_child(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        loop {
            match Actor::spawn_linked(None, AgentActor, state.settings.clone(), myself.get_cell())
                .await
            {
                Ok((child, _)) => {
                    state.current.send_replace(Some(child));
                    return Ok(());
                }
                Err(e) if state.restarts_in_a_row < MAX_RESTARTS => {
                    state.restarts_in_a_row += 1;
                    tracing::warn!(
                        agent = state.settings.role.name(),
                        error = %e,
                        "agent could not start; trying again"
                    );
                    tokio::time::sleep(pause(state.restarts_in_a_row)).await;
                }
                Err(e) => return Err(Box::new(e)),
            }
        }
    }
}

fn pause(restarts: u32) -> Duration {
    Duration::from_millis(100 * u64::from(restarts.min(20)))
}

impl Actor for AgentSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorState;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: SupervisorState,
    ) -> std::result::Result<SupervisorState, ActorProcessingErr> {
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        Self::spawn_child(&myself, state).await
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Healthy => state.restarts_in_a_row = 0,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let reason = match &event {
            SupervisionEvent::ActorFailed(_, e) => e.to_string(),
            SupervisionEvent::ActorTerminated(_, _, why) => {
                why.clone().unwrap_or_else(|| "stopped".into())
            }
            _ => return Ok(()),
        };
        state.current.send_replace(None);
        state.restarts_in_a_row += 1;
        state.restarts.send_modify(|n| *n += 1);
        if state.restarts_in_a_row > MAX_RESTARTS {
            return Err(format!(
                "{} failed {MAX_RESTARTS} times in a row; last: {reason}",
                state.settings.role.name()
            )
            .into());
        }
        tracing::warn!(
            agent = state.settings.role.name(),
            %reason,
            "agent failed; rebuilding it from the log"
        );
        tokio::time::sleep(pause(state.restarts_in_a_row)).await;
        Self::spawn_child(&myself, state).await
    }
}

/// A running agent: its supervisor, and how to reach the current actor.
#[derive(Debug)]
pub struct RunningAgent {
    supervisor: ActorRef<SupervisorMsg>,
    handle: tokio::task::JoinHandle<()>,
    current: watch::Receiver<Option<ActorRef<AgentMsg>>>,
    restarts: watch::Receiver<u32>,
}

impl RunningAgent {
    /// Starts the supervisor and its agent actor.
    pub async fn start(settings: AgentSettings) -> Result<Self> {
        let (current_tx, current) = watch::channel(None);
        let (restarts_tx, restarts) = watch::channel(0);
        let state = SupervisorState {
            settings,
            current: current_tx,
            restarts_in_a_row: 0,
            restarts: restarts_tx,
        };
        let (supervisor, handle) =
            Actor::spawn(None, AgentSupervisor, state)
                .await
                .map_err(|e| Error::Mesh {
                    reason: format!("cannot start the agent supervisor: {e}"),
                })?;
        Ok(Self {
            supervisor,
            handle,
            current,
            restarts,
        })
    }

    /// Times the actor was restarted.
    pub fn restarts(&self) -> u32 {
        *self.restarts.borrow()
    }

    /// Hands `call` to the current actor and waits for its answer. While the actor is
    /// being rebuilt the call waits for it (up to [`CALL_TIMEOUT`]).
    pub async fn call(&mut self, call: AgentCall) -> AgentResponse {
        let retry = |reason: String| CallFailure {
            reason,
            retry: true,
            refused: None,
        };
        let wait = tokio::time::timeout(CALL_TIMEOUT, self.current.wait_for(Option::is_some));
        let actor = match wait.await {
            Ok(Ok(actor)) => actor.clone(),
            Ok(Err(_)) => return Err(retry("the agent's supervisor stopped".into())),
            Err(_) => return Err(retry("the agent is still being rebuilt".into())),
        };
        let Some(actor) = actor else {
            return Err(retry("the agent is being rebuilt".into()));
        };
        let answer = actor
            .call(
                |reply| AgentMsg::Call(Box::new(call), reply),
                Some(CALL_TIMEOUT),
            )
            .await;
        match answer {
            Ok(ractor::rpc::CallResult::Success(response)) => {
                if response.is_ok() {
                    let _ = self.supervisor.cast(SupervisorMsg::Healthy);
                }
                response
            }
            Ok(ractor::rpc::CallResult::Timeout) => Err(retry("the agent timed out".into())),
            Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
                Err(retry("the agent failed during the call".into()))
            }
        }
    }

    /// Stops the actor and its supervisor.
    pub async fn stop(self) {
        self.supervisor.stop(None);
        let _ = self.handle.await;
    }
}

/// Serves `settings.role`'s input subject until `shutdown` resolves, one call at a time;
/// a call being handled when the shutdown comes is finished and answered first.
pub async fn serve(
    client: async_nats::Client,
    settings: AgentSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<u32> {
    let scenario = settings.log.scenario().to_string();
    let role = settings.role;
    let subject = subjects::agent_inputs(&scenario, role.name());
    let mut agent = RunningAgent::start(settings).await?;
    let mut inputs = client
        .queue_subscribe(subject.clone(), AGENT_QUEUE.to_string())
        .await
        .map_err(nats(format!("subscribe {subject}")))?;
    tracing::info!(agent = role.name(), %subject, "agent serving");
    tokio::pin!(shutdown);
    loop {
        let message = tokio::select! {
            () = &mut shutdown => break,
            message = inputs.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let response = match serde_json::from_slice::<AgentCall>(&message.payload) {
            Ok(call) => agent.call(call).await,
            Err(e) => Err(CallFailure {
                reason: format!("not an agent call: {e}"),
                retry: false,
                refused: None,
            }),
        };
        if let Some(reply) = message.reply {
            let bytes = serde_json::to_vec(&response)?;
            client
                .publish(reply, bytes.into())
                .await
                .map_err(nats("answer a call"))?;
        }
    }
    let _ = inputs.unsubscribe().await;
    let _ = client.flush().await;
    let restarts = agent.restarts();
    agent.stop().await;
    tracing::info!(agent = role.name(), restarts, "agent stopped");
    Ok(restarts)
}
