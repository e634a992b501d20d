//! Operator commands: rollback and approval, recorded as the events they are.
//!
//! A rollback is an input of the Releaser (recorded with the online statistics it saw),
//! so the auditor re-derives the `RolledBack` it produced. An approval is a fact on the
//! `operator` stream that the Releaser folds; promotion then follows at the next
//! analysis. A command the Releaser refuses (nothing to roll back) writes nothing but an
//! `OperatorNoted` saying why, and the run goes on.

use ledgerloop_agents::releaser::RollbackCommand;
use ledgerloop_events::catalogue::{ApprovalGranted, OperatorNoted};
use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};

use super::GovernedPolicy;
use crate::error::{Error, Result};
use crate::step::{Input, Role};

/// Stream of operators' commands and notes.
pub const OPERATOR_STREAM: &str = "operator";

/// What an operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    /// Withdraw the canary, or restore the previous champion when none runs.
    Rollback,
    /// Approve a model for promotion.
    Approve,
}

/// A command scheduled at a virtual hour (how a simulation studies interventions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorCommand {
    /// Hour (since the start of the warm-up) at which the command is given.
    pub hour: u64,
    /// What is asked.
    pub action: OperatorAction,
    /// Who asks.
    pub operator: String,
    /// The model approved; empty approves whichever canary runs at that hour.
    #[serde(default)]
    pub model_id: String,
}

impl GovernedPolicy {
    /// An operator's rollback at `hour`. Returns the events the Releaser decided
    /// (empty when it refused; the refusal is noted in the log).
    pub fn rollback(&mut self, hour: u64, operator: &str) -> Result<Vec<Event>> {
        let online = self.online(hour);
        let input = Input::Rollback {
            command: RollbackCommand {
                operator: operator.to_string(),
            },
            online,
        };
        let cause = self.last_decision.get(&Role::Releaser).copied();
        match self.give(Role::Releaser, hour, input, None, cause) {
            Ok(decisions) => Ok(decisions.into_iter().map(|(_, e)| e).collect()),
            Err(Error::Agent { source, .. }) if is_refusal(&source) => {
                self.noted(hour, operator, format!("rollback refused: {source}"))?;
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// An operator's approval of `model_id` (empty: the running canary) at `hour`.
    pub fn approve(&mut self, hour: u64, model_id: &str, operator: &str) -> Result<()> {
        let subject = if model_id.is_empty() {
            match &self.states.releaser.canary {
                Some(c) => c.model_id.clone(),
                None => {
                    return self.noted(hour, operator, "approval with no canary running".into())
                }
            }
        } else {
            model_id.to_string()
        };
        let fact = Event::ApprovalGranted(ApprovalGranted {
            subject_id: subject,
            operator: operator.to_string(),
            note: String::new(),
        });
        let id = self
            .journal
            .fact(OPERATOR_STREAM, "operator", hour, &fact, None)?;
        self.give(Role::Releaser, hour, Input::Fold(fact), Some(id), None)?;
        Ok(())
    }

    fn noted(&mut self, hour: u64, operator: &str, text: String) -> Result<()> {
        let fact = Event::OperatorNoted(OperatorNoted {
            operator: operator.to_string(),
            text,
        });
        self.journal
            .fact(OPERATOR_STREAM, "operator", hour, &fact, None)?;
        Ok(())
    }

    /// Carries out the commands scheduled for `hour`.
    pub(super) fn scheduled_commands(&mut self, hour: u64) -> Result<()> {
        let due: Vec<OperatorCommand> = self
            .config
            .host
            .operator_commands
            .iter()
            .filter(|c| c.hour == hour)
            .cloned()
            .collect();
        for c in due {
            match c.action {
                OperatorAction::Rollback => {
                    self.rollback(hour, &c.operator)?;
                }
                OperatorAction::Approve => self.approve(hour, &c.model_id, &c.operator)?,
            }
        }
        Ok(())
    }
}

fn is_refusal(e: &ledgerloop_agents::Error) -> bool {
    matches!(e, ledgerloop_agents::Error::Refused { .. })
}
