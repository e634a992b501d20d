//! The decider contract every agent implements.
//!
//! An agent is a policy (its configuration, read from TOML) plus two pure functions:
//! `decide` turns the agent's state and one input into the events to append, and
//! `evolve` folds one recorded event into the state. State is never stored apart from
//! the log: a host rebuilds it by folding the agent's stream (snapshots are a cache), and
//! an auditor re-runs `decide` over the recorded inputs to re-derive every decision.
//!
//! Deciders never do I/O, never read a clock (time arrives in the input) and never draw
//! unseeded randomness. Expensive work (training, distilling, evaluating, buying labels)
//! is *requested* by a decision event; a worker in the host does it and reports a fact
//! event, which comes back to the deciders as input.

use ledgerloop_events::Event;
use serde::{de::DeserializeOwned, Serialize};

/// A pure, deterministic agent.
pub trait Decider {
    /// The fold of the agent's events; serialisable so hosts can snapshot it.
    type State: Default + Clone + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned;
    /// What the agent reacts to (a batch, a fact event from a worker, a command, a tick).
    type Input;

    /// The events this input calls for, given the state. Must not depend on anything but
    /// `self` (the policy), `state` and `input`.
    fn decide(&self, state: &Self::State, input: &Self::Input) -> crate::Result<Vec<Event>>;

    /// Folds one event (usually one `decide` returned, after it was appended) into state.
    fn evolve(state: &mut Self::State, event: &Event);

    /// Runs `decide` and folds its events at once: what a host does after a successful
    /// append, and what given/when/then tests use.
    fn decide_and_evolve(
        &self,
        state: &mut Self::State,
        input: &Self::Input,
    ) -> crate::Result<Vec<Event>> {
        let events = self.decide(state, input)?;
        for event in &events {
            Self::evolve(state, event);
        }
        Ok(events)
    }
}

/// Folds a sequence of events into a fresh state: the "given" of a test, or a host's
/// recovery from the log.
pub fn fold<D: Decider>(events: &[Event]) -> D::State {
    let mut state = D::State::default();
    for event in events {
        D::evolve(&mut state, event);
    }
    state
}
