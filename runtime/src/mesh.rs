//! The mesh host: the same six deciders run against NATS, with JetStream as the log of
//! record.
//!
//! What lives where:
//! - [`jetstream`]: [`jetstream::JetStreamLog`], the JetStream backend of the
//!   `EventLog` trait (and of the blocking `SyncAppend` the sim host writes through);
//! - [`agent`]: one agent as a supervised ractor actor fed from its NATS input subject
//!   (in the mesh process, or alone with `ledgerloop agent <role>`), the host's client
//!   of it, and the process supervisor of `mesh --agents processes`;
//! - [`bench`]: the figures of `ledgerloop bench jetstream`;
//! - [`export`]: copying a JetStream log into an embedded log for offline audit;
//! - [`mirror`]: the object stores (inputs, artifacts, runs) and the serving bucket;
//! - [`metrics`]: Prometheus text on `--metrics ADDR`, counted from what is appended;
//! - [`operator`]: `rollback` / `approve` sent to a running mesh, applied at the next
//!   simulated hour;
//! - [`run`]: a governed run with JetStream as the log of record, inputs and weights in
//!   the object store and the serving route in a key-value bucket;
//! - [`world`]: a run split over NATS: `ledgerloop devices` runs the world, the mesh
//!   ingests its telemetry (Perceiver queue group), answers its requests and serves
//!   predictions;
//! - [`subjects`]: the subject names of the mesh, documented in one place;
//! - [`durability`]: the server settings the mesh needs and the start-up check;
//! - [`security`]: the generated nats-server configuration with one user per agent.

pub mod agent;
pub mod bench;
pub mod durability;
pub mod export;
pub mod jetstream;
pub mod metrics;
pub mod mirror;
pub mod operator;
pub mod run;
pub mod security;
pub mod subjects;
pub mod world;
