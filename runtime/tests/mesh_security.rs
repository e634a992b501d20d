//! The generated per-agent server config, enforced by a real nats-server: an agent may
//! append to its own event subject and the server refuses its attempt to publish on
//! another agent's.

#[path = "support/nats.rs"]
mod nats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Result};
use ledgerloop_runtime::mesh::jetstream::{event_subject, JetStreamLog, EVENTS_STREAM};
use ledgerloop_runtime::mesh::security;
use nats::NatsServer;

const WAIT: Duration = Duration::from_secs(30);

async fn connect_as(
    server: &NatsServer,
    user: &security::User,
    errors: Arc<Mutex<Vec<String>>>,
) -> Result<async_nats::Client> {
    let options = async_nats::ConnectOptions::new()
        .user_and_password(user.name.clone(), user.password.clone())
        .event_callback(move |event| {
            let errors = errors.clone();
            async move {
                errors.lock().unwrap().push(event.to_string());
            }
        });
    Ok(tokio::time::timeout(WAIT, options.connect(server.url())).await??)
}

/// The Perceiver's publish on the Releaser's event subject is refused by the server and
/// never stored; its own subject works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perceiver_cannot_publish_releaser_events() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = NatsServer::free_port()?;
    let store = dir.path().join("js");
    let users = security::users("sec");
    security::write(dir.path(), port, &store, &users, None)?;
    let server = NatsServer::start_with_config(&dir.path().join("nats-server.conf"), port, &store)?;
    let find = |name: &str| users.iter().find(|u| u.name == name).unwrap().clone();
    let errors = Arc::new(Mutex::new(Vec::new()));

    // The host creates the stream (any user may use the JetStream API).
    let host = connect_as(&server, &find("host"), errors.clone()).await?;
    let log = JetStreamLog::open(host, "sec", EVENTS_STREAM).await?;

    let perceiver = connect_as(&server, &find("perceiver"), errors.clone()).await?;
    let js = async_nats::jetstream::new(perceiver.clone());
    let own = js
        .publish(event_subject("sec", "perceiver"), "own".into())
        .await?
        .await;
    ensure!(own.is_ok(), "own subject refused: {own:?}");

    let foreign = js
        .publish(event_subject("sec", "releaser"), "forged".into())
        .await?;
    let refused = tokio::time::timeout(Duration::from_secs(10), foreign).await;
    ensure!(
        !matches!(refused, Ok(Ok(_))),
        "publish on the releaser's subject was acknowledged"
    );
    // The server says why: a permissions violation naming the subject.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = errors.lock().unwrap().clone();
        if seen
            .iter()
            .any(|e| e.to_lowercase().contains("permissions violation") && e.contains("releaser"))
        {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no refusal seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing was stored on the releaser's subject.
    let last = log
        .stream()
        .get_last_raw_message_by_subject(&event_subject("sec", "releaser"))
        .await;
    ensure!(
        last.is_err(),
        "a message was stored on the releaser's subject"
    );
    Ok(())
}
