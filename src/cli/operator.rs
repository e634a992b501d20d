//! `ledgerloop rollback` and `ledgerloop approve`: operator commands to a running mesh.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::host::OperatorAction;
use ledgerloop_runtime::mesh::operator::{OperatorReply, OperatorRequest, COMMAND_ROLE};
use ledgerloop_runtime::mesh::run::connect;
use ledgerloop_runtime::mesh::subjects;

use super::mesh::NatsArgs;

/// How long a command waits for the next simulated hour.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Examples of `ledgerloop rollback` and `approve`.
pub const EXAMPLES: &str = "\
Examples:
  # Put the previous champion back at once (recorded as alice's command).
  ledgerloop rollback --nats nats://127.0.0.1:4222 --scenario ont-offline --operator alice
  # Let the running canary be promoted (policies with the approval gate on).
  ledgerloop approve --nats nats://127.0.0.1:4222 --scenario ont-offline --operator alice

The mesh applies the command at the start of its next simulated hour and answers.";

/// Arguments of `rollback` and `approve`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Scenario name (the `ll.<scenario>.` subject prefix).
    #[arg(long)]
    pub scenario: String,
    /// Who gives the command (recorded in the log).
    #[arg(long)]
    pub operator: String,
    /// `approve` only: the model to approve (default: the running canary).
    #[arg(long, default_value = "")]
    pub model: String,
}

/// Sends `action` and prints the mesh's answer.
pub fn run(action: OperatorAction, args: OperatorArgs) -> anyhow::Result<ExitCode> {
    let request = OperatorRequest {
        action,
        operator: args.operator.clone(),
        model_id: args.model.clone(),
    };
    let options = args.nats.options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let subject = subjects::commands(&args.scenario, COMMAND_ROLE);
    let reply: OperatorReply = runtime.block_on(async {
        let client = connect(&options).await?;
        // Own inbox and timeout: the answer comes at the mesh's next simulated hour,
        // which can take longer than the client's default request timeout.
        let inbox = client.new_inbox();
        let mut answers = client.subscribe(inbox.clone()).await?;
        client
            .publish_with_reply(subject.clone(), inbox, serde_json::to_vec(&request)?.into())
            .await?;
        client.flush().await?;
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, futures::StreamExt::next(&mut answers))
            .await
            .with_context(|| {
                format!(
                    "no answer on {subject} within {COMMAND_TIMEOUT:?}; hint: is a mesh of `{}` \
                     running?",
                    args.scenario
                )
            })?
            .context("the connection closed before the answer")?;
        anyhow::Ok(serde_json::from_slice(&answer.payload)?)
    })?;
    match reply.hour {
        Some(hour) => {
            println!(
                "hour {hour}: {}; champion {}",
                reply.outcome, reply.champion
            );
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!("the mesh refused: {}", reply.outcome),
    }
}
