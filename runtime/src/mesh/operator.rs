//! Operator commands to a running mesh: `ledgerloop rollback` and `ledgerloop approve`
//! send a request on `ll.<scenario>.cmd.releaser`; the host applies it at the start of
//! the next simulated hour (as a simulation applies its scheduled commands, so the log
//! records it the same way and `audit` re-derives it) and answers with what happened.
//!
//! At most [`MAX_PENDING_COMMANDS`] commands wait for their hour; more are refused with
//! "busy" rather than queued without bound.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::error::{nats, Result};
use crate::host::OperatorAction;
use crate::mesh::subjects;

/// Commands waiting for the next simulated hour.
pub const MAX_PENDING_COMMANDS: usize = 16;
/// The role that takes operator commands.
pub const COMMAND_ROLE: &str = "releaser";

/// A command as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRequest {
    /// Roll back or approve.
    pub action: OperatorAction,
    /// Who asks (recorded in the log).
    pub operator: String,
    /// The model to approve (empty: the running canary).
    #[serde(default)]
    pub model_id: String,
}

/// The host's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorReply {
    /// Simulated hour the command was applied at (`None` when refused before).
    pub hour: Option<u64>,
    /// What happened, in words.
    pub outcome: String,
    /// The champion afterwards.
    pub champion: String,
}

/// A command waiting for its hour, with where to answer.
#[derive(Debug)]
pub struct PendingCommand {
    /// The command.
    pub request: OperatorRequest,
    /// The requester's reply subject.
    pub reply: Option<async_nats::Subject>,
}

/// Subscribes to the command subject; commands come out of the returned receiver.
pub async fn start_commands(
    client: &async_nats::Client,
    scenario: &str,
) -> Result<(tokio::task::JoinHandle<()>, Receiver<PendingCommand>)> {
    let subject = subjects::commands(scenario, COMMAND_ROLE);
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .map_err(nats(format!("subscribe {subject}")))?;
    let (send, receive) = sync_channel(MAX_PENDING_COMMANDS);
    let client = client.clone();
    let task = tokio::spawn(async move {
        while let Some(message) = sub.next().await {
            let refusal = match serde_json::from_slice::<OperatorRequest>(&message.payload) {
                Ok(request) => queue(&send, request, message.reply.clone()),
                Err(e) => Some(format!("not an operator command: {e}")),
            };
            if let (Some(outcome), Some(reply)) = (refusal, message.reply) {
                let answer = OperatorReply {
                    hour: None,
                    outcome,
                    champion: String::new(),
                };
                if let Ok(bytes) = serde_json::to_vec(&answer) {
                    let _ = client.publish(reply, bytes.into()).await;
                }
            }
        }
    });
    Ok((task, receive))
}

fn queue(
    send: &SyncSender<PendingCommand>,
    request: OperatorRequest,
    reply: Option<async_nats::Subject>,
) -> Option<String> {
    if request.operator.trim().is_empty() {
        return Some("an operator name is required (it is recorded in the log)".into());
    }
    match send.try_send(PendingCommand { request, reply }) {
        Ok(()) => None,
        Err(TrySendError::Full(_)) => Some(format!(
            "busy: {MAX_PENDING_COMMANDS} commands already wait for the next hour; try again"
        )),
        Err(TrySendError::Disconnected(_)) => Some("the run is over".into()),
    }
}
