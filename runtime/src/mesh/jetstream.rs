//! The JetStream backend of the event log: stream `LL_EVENTS`, one subject per event
//! stream (`ll.<scenario>.evt.<stream>`), one message per appended batch.
//!
//! A batch is one message so that it is stored whole or not at all, as in the embedded
//! log (NATS 2.9 has no atomic multi-message publish). The message carries the batch's
//! [`RecordedEvent`]s as JSON with their sequences, global positions and hashes, and
//! the headers that make the append safe:
//!
//! * `Nats-Msg-Id` = the batch's first event id: a retried publish inside the server's
//!   duplicate window is acknowledged as a duplicate and stored once;
//! * `Nats-Expected-Last-Subject-Sequence`: the stream's chain head the writer hashed
//!   against; a concurrent writer on the same stream makes the publish fail instead of
//!   forking the chain;
//! * `Nats-Expected-Last-Sequence`: the whole log's last message, so the global positions
//!   written into the batch are contiguous even with several writer processes (a writer
//!   that lost the race re-reads the heads and tries again).
//!
//! The hash covers neither the global position nor the backend, so an export to the
//! embedded log (see [`crate::mesh::export`]) reproduces every hash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{Publish, PublishErrorKind};
use async_nats::jetstream::stream::{
    Config, DirectGetErrorKind, LastRawMessageErrorKind, StorageType, Stream,
};
use async_nats::jetstream::Context;
use futures::stream::BoxStream;
use futures::StreamExt as _;
use ledgerloop_events::log::{AppendOutcome, EventLog, ExpectedVersion, SyncAppend};
use ledgerloop_events::{Error, Hash, NewEvent, RecordedEvent, Result, StreamId, MAX_BATCH_EVENTS};
use tokio::sync::Mutex;

/// Default name of the JetStream stream holding the log.
pub const EVENTS_STREAM: &str = "LL_EVENTS";
/// How long the server remembers batch ids to drop retried publishes.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// How often an append re-reads the heads after losing a race before giving up.
pub const MAX_CONFLICT_RETRIES: usize = 64;
/// Header with the global position of the batch's first event.
pub const FIRST_POSITION_HEADER: &str = "Ll-First-Position";
/// How long a blocking append keeps retrying while the server is unreachable.
pub const OUTAGE_RETRY: Duration = Duration::from_secs(120);
/// Looks at (or creates) the stream this many times before giving up.
const STREAM_OPEN_ATTEMPTS: usize = 5;
/// How long `follow` waits before looking for new messages again.
const FOLLOW_POLL: Duration = Duration::from_millis(50);
const BACKEND: &str = "jetstream";

/// The subject of one event stream.
pub fn event_subject(scenario: &str, stream: &str) -> String {
    format!("ll.{scenario}.evt.{stream}")
}

/// A scenario name usable as one subject token.
pub fn check_scenario(scenario: &str) -> Result<()> {
    let ok = !scenario.is_empty()
        && scenario
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidStream {
            name: scenario.to_string(),
            reason: "a scenario name in the mesh must be ASCII letters, digits, '_' or '-'".into(),
        })
    }
}

pub(crate) fn backend(reason: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: BACKEND.to_string(),
        reason: reason.to_string(),
    }
}

/// Where a stream's chain ends.
#[derive(Debug, Clone, Copy)]
struct StreamHead {
    version: u64,
    last_hash: Hash,
    message_sequence: u64,
}

/// Where the whole log ends.
#[derive(Debug, Clone, Copy)]
struct LogHead {
    last_message_sequence: u64,
    next_position: u64,
}

#[derive(Debug, Default)]
struct Heads {
    streams: BTreeMap<StreamId, StreamHead>,
    log: Option<LogHead>,
}

/// The event log in a JetStream stream. Cheap to clone; appends from one process are
/// serialised, appends from several processes are ordered by the server.
#[derive(Debug, Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stream: Stream,
    js: Context,
    scenario: String,
    max_payload: usize,
    heads: Mutex<Heads>,
    runtime: tokio::runtime::Handle,
}

impl JetStreamLog {
    /// Opens (creating when missing) the log of `scenario` in stream `stream_name`.
    /// Must be called inside a tokio runtime; blocking appends use that runtime.
    pub async fn open(
        client: async_nats::Client,
        scenario: &str,
        stream_name: &str,
    ) -> Result<JetStreamLog> {
        check_scenario(scenario)?;
        let js = async_nats::jetstream::new(client.clone());
        let subjects = vec![format!("ll.{scenario}.evt.>")];
        let config = Config {
            name: stream_name.to_string(),
            subjects: subjects.clone(),
            storage: StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            allow_direct: true,
            ..Default::default()
        };
        let mut stream = open_stream(&js, config).await?;
        let info = stream.info().await.map_err(backend)?;
        if info.config.subjects != subjects {
            return Err(backend(format!(
                "stream {stream_name} holds subjects {:?}, not {subjects:?}: it belongs to \
                 another scenario; use another stream name or server",
                info.config.subjects
            )));
        }
        Ok(JetStreamLog {
            inner: Arc::new(Inner {
                stream,
                js,
                scenario: scenario.to_string(),
                max_payload: client.server_info().max_payload,
                heads: Mutex::new(Heads::default()),
                runtime: tokio::runtime::Handle::current(),
            }),
        })
    }

    /// The scenario whose log this is.
    pub fn scenario(&self) -> &str {
        &self.inner.scenario
    }

    /// The JetStream stream.
    pub fn stream(&self) -> &Stream {
        &self.inner.stream
    }

    /// The JetStream context (object store, key-value buckets).
    pub fn context(&self) -> &Context {
        &self.inner.js
    }

    /// Sequence of the last message (batch) in the stream, 0 when empty.
    pub async fn last_message_sequence(&self) -> Result<u64> {
        let mut stream = self.inner.stream.clone();
        let info = stream.info().await.map_err(backend)?;
        Ok(info.state.last_sequence)
    }

    /// The batch stored in message `sequence`, checked: every hash matches its content and
    /// the positions match the header.
    pub async fn read_batch(&self, sequence: u64) -> Result<Vec<RecordedEvent>> {
        let message = self
            .inner
            .stream
            .get_raw_message(sequence)
            .await
            .map_err(|e| backend(format!("message {sequence}: {e}")))?;
        decode_batch(sequence, &message.headers, &message.payload)
    }

    async fn stream_head(&self, heads: &mut Heads, stream: &StreamId) -> Result<StreamHead> {
        if let Some(head) = heads.streams.get(stream) {
            return Ok(*head);
        }
        let subject = event_subject(&self.inner.scenario, stream.as_str());
        let head = match self
            .inner
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(message) => {
                let batch = decode_batch(message.sequence, &message.headers, &message.payload)?;
                let last = batch.last().ok_or_else(|| backend("empty batch"))?;
                StreamHead {
                    version: last.sequence,
                    last_hash: last.hash,
                    message_sequence: message.sequence,
                }
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => StreamHead {
                version: 0,
                last_hash: Hash::GENESIS,
                message_sequence: 0,
            },
            Err(e) => return Err(backend(format!("head of {subject}: {e}"))),
        };
        heads.streams.insert(stream.clone(), head);
        Ok(head)
    }

    async fn log_head(&self, heads: &mut Heads) -> Result<LogHead> {
        if let Some(head) = heads.log {
            return Ok(head);
        }
        let last = self.last_message_sequence().await?;
        let head = if last == 0 {
            LogHead {
                last_message_sequence: 0,
                next_position: 0,
            }
        } else {
            let batch = self.read_batch(last).await?;
            let end = batch.last().map_or(0, |e| e.position + 1);
            LogHead {
                last_message_sequence: last,
                next_position: end,
            }
        };
        heads.log = Some(head);
        Ok(head)
    }

    async fn append_batch(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
            return Err(Error::InvalidEvent {
                reason: format!(
                    "a batch holds 1..={MAX_BATCH_EVENTS} events, not {}",
                    events.len()
                ),
            });
        }
        let subject = event_subject(&self.inner.scenario, stream.as_str());
        let mut heads = self.inner.heads.lock().await;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let head = self.stream_head(&mut heads, stream).await?;
            if !expected.admits(head.version) {
                return Err(Error::Conflict {
                    stream: stream.as_str().to_string(),
                    expected: expected.to_string(),
                    actual: head.version,
                });
            }
            let log = self.log_head(&mut heads).await?;
            let batch = record(stream, head, log.next_position, &events);
            let payload = serde_json::to_vec(&batch).map_err(backend)?;
            if payload.len() > self.inner.max_payload {
                return Err(Error::InvalidEvent {
                    reason: format!(
                        "batch of {} bytes exceeds the server's max_payload of {} bytes; \
                         raise max_payload in the nats-server config",
                        payload.len(),
                        self.inner.max_payload
                    ),
                });
            }
            let publish = Publish::build()
                .payload(payload.into())
                .message_id(events[0].id.to_string())
                .expected_last_subject_sequence(head.message_sequence)
                .expected_last_sequence(log.last_message_sequence)
                .header(
                    FIRST_POSITION_HEADER,
                    log.next_position.to_string().as_str(),
                );
            let ack = match self.inner.js.send_publish(subject.clone(), publish).await {
                Ok(future) => future.await,
                Err(e) => Err(e),
            };
            match ack {
                Ok(ack) if ack.duplicate => {
                    // The batch was stored by an earlier attempt whose ack was lost.
                    heads.streams.remove(stream);
                    heads.log = None;
                    let stored = self.read_batch(ack.sequence).await?;
                    return Ok(outcome(&stored, true));
                }
                Ok(ack) => {
                    let last = batch.last().expect("batch is not empty");
                    heads.streams.insert(
                        stream.clone(),
                        StreamHead {
                            version: last.sequence,
                            last_hash: last.hash,
                            message_sequence: ack.sequence,
                        },
                    );
                    heads.log = Some(LogHead {
                        last_message_sequence: ack.sequence,
                        next_position: last.position + 1,
                    });
                    return Ok(outcome(&batch, false));
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Another writer appended first: read the heads again.
                    heads.streams.remove(stream);
                    heads.log = None;
                }
                Err(e) => {
                    // The publish may or may not have been stored: forget the heads.
                    heads.streams.remove(stream);
                    heads.log = None;
                    return Err(backend(format!("append to {subject}: {e}")));
                }
            }
        }
        Err(backend(format!(
            "append to {subject} lost the race {MAX_CONFLICT_RETRIES} times in a row"
        )))
    }

    /// Every batch from message `from` (1-based) to the current end, in order.
    pub async fn batches_from(&self, from: u64) -> Result<Vec<(u64, Vec<RecordedEvent>)>> {
        let last = self.last_message_sequence().await?;
        let mut out = Vec::new();
        for sequence in from.max(1)..=last {
            out.push((sequence, self.read_batch(sequence).await?));
        }
        Ok(out)
    }

    /// The first message whose batch ends after global position `position`.
    async fn message_holding(&self, position: u64) -> Result<u64> {
        let last = self.last_message_sequence().await?;
        let (mut low, mut high) = (1u64, last + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let batch = self.read_batch(mid).await?;
            let end = batch.last().map_or(0, |e| e.position + 1);
            if end <= position {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }
}

/// Gets the stream, creating it when missing. Processes that start together (the host
/// and its agents) race to create it; the server then refuses the loser's create
/// ("subjects overlap"), and the loser finds the winner's stream on the next look.
async fn open_stream(js: &Context, config: Config) -> Result<Stream> {
    let name = config.name.clone();
    let mut last = String::new();
    for attempt in 0..STREAM_OPEN_ATTEMPTS {
        match js.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                last = e.to_string();
                tracing::debug!(stream = %name, attempt, error = %last, "stream open raced; looking again");
                tokio::time::sleep(Duration::from_millis(50 * (attempt as u64 + 1))).await;
            }
        }
    }
    Err(backend(format!("cannot open stream {name}: {last}")))
}

/// Hash-chains `events` after `head`, from global position `position`.
fn record(
    stream: &StreamId,
    head: StreamHead,
    position: u64,
    events: &[NewEvent],
) -> Vec<RecordedEvent> {
    let mut prev = head.last_hash;
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let mut recorded = RecordedEvent {
            id: e.id,
            stream: stream.clone(),
            sequence: head.version + 1 + i as u64,
            position: position + i as u64,
            time: e.time,
            actor: e.actor.clone(),
            causation_id: e.causation_id,
            correlation_id: e.correlation_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            payload: e.payload.clone(),
            prev_hash: prev,
            hash: Hash::GENESIS,
        };
        recorded.hash = recorded.computed_hash();
        prev = recorded.hash;
        out.push(recorded);
    }
    out
}

fn outcome(batch: &[RecordedEvent], already_stored: bool) -> AppendOutcome {
    AppendOutcome {
        first_position: batch.first().map_or(0, |e| e.position),
        last_sequence: batch.last().map_or(0, |e| e.sequence),
        already_stored,
    }
}

/// Decodes and checks one stored batch.
fn decode_batch(
    sequence: u64,
    headers: &async_nats::HeaderMap,
    payload: &[u8],
) -> Result<Vec<RecordedEvent>> {
    let batch: Vec<RecordedEvent> = serde_json::from_slice(payload)
        .map_err(|e| backend(format!("message {sequence} is not a ledgerloop batch: {e}")))?;
    let first = headers
        .get(FIRST_POSITION_HEADER)
        .and_then(|v| v.as_str().parse::<u64>().ok());
    if batch.is_empty() || first != Some(batch[0].position) {
        return Err(backend(format!(
            "message {sequence}: empty batch or {FIRST_POSITION_HEADER} does not match"
        )));
    }
    for (i, e) in batch.iter().enumerate() {
        let contiguous = e.position == batch[0].position + i as u64
            && e.sequence == batch[0].sequence + i as u64
            && e.stream == batch[0].stream;
        if !contiguous || e.computed_hash() != e.hash {
            return Err(backend(format!(
                "message {sequence}: event {} is damaged (hash, sequence or position)",
                e.id
            )));
        }
    }
    Ok(batch)
}

impl EventLog for JetStreamLog {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        self.append_batch(stream, expected, events).await
    }

    async fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>> {
        let mut out = Vec::new();
        let last = self.last_message_sequence().await?;
        let mut sequence = self.message_holding(from).await?;
        while out.len() < max && sequence <= last {
            for e in self.read_batch(sequence).await? {
                if e.position >= from && out.len() < max {
                    out.push(e);
                }
            }
            sequence += 1;
        }
        Ok(out)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let subject = event_subject(&self.inner.scenario, stream.as_str());
        let mut out = Vec::new();
        let mut next = 1u64;
        while out.len() < max {
            let message = match self
                .inner
                .stream
                .direct_get_next_for_subject(&subject, Some(next))
                .await
            {
                Ok(m) => m,
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(backend(format!("read {subject}: {e}"))),
            };
            let sequence = stream_sequence(&message)?;
            let headers = message.headers.clone().unwrap_or_default();
            for e in decode_batch(sequence, &headers, &message.payload)? {
                if e.sequence >= from && out.len() < max {
                    out.push(e);
                }
            }
            next = sequence + 1;
        }
        Ok(out)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        let mut heads = self.inner.heads.lock().await;
        heads.streams.remove(stream);
        Ok(self.stream_head(&mut heads, stream).await?.version)
    }

    fn follow(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent>> {
        let log = self.clone();
        let start = futures::stream::once(async move {
            let sequence = log.message_holding(from).await;
            (log, sequence)
        });
        start
            .flat_map(move |(log, sequence)| match sequence {
                Err(e) => futures::stream::iter(vec![Err(e)]).boxed(),
                Ok(sequence) => follow_from(log, sequence, from),
            })
            .boxed()
    }
}

fn follow_from(
    log: JetStreamLog,
    sequence: u64,
    from: u64,
) -> BoxStream<'static, Result<RecordedEvent>> {
    futures::stream::unfold((log, sequence), move |(log, sequence)| async move {
        loop {
            match log.last_message_sequence().await {
                Err(e) => return Some((vec![Err(e)], (log, sequence))),
                Ok(last) if last >= sequence => break,
                Ok(_) => tokio::time::sleep(FOLLOW_POLL).await,
            }
        }
        let events = match log.read_batch(sequence).await {
            Ok(batch) => batch
                .into_iter()
                .filter(|e| e.position >= from)
                .map(Ok)
                .collect(),
            Err(e) => vec![Err(e)],
        };
        Some((events, (log, sequence + 1)))
    })
    .flat_map(futures::stream::iter)
    .boxed()
}

/// The stream sequence of a direct-get reply.
fn stream_sequence(message: &async_nats::Message) -> Result<u64> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(async_nats::header::NATS_SEQUENCE))
        .and_then(|v| v.as_str().parse().ok())
        .ok_or_else(|| backend("direct get reply without Nats-Sequence"))
}

impl SyncAppend for JetStreamLog {
    /// Blocks on the runtime the log was opened in; call it from a plain thread (not a
    /// runtime worker), as the mesh host does. While the server cannot be reached the
    /// append is retried for up to [`OUTAGE_RETRY`]: a retry re-reads the heads and
    /// reuses the batch's message id, so a batch whose acknowledgement was lost is found
    /// stored (the server drops the duplicate) and never written twice.
    fn append_sync(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        let deadline = std::time::Instant::now() + OUTAGE_RETRY;
        let mut pause = Duration::from_millis(50);
        loop {
            let result =
                self.inner
                    .runtime
                    .block_on(self.append_batch(stream, expected, events.clone()));
            match result {
                Err(Error::Backend { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    fn close_sync(&self) -> Result<()> {
        // Every append was acknowledged by the server before it returned; there is no
        // client-side buffer to flush.
        Ok(())
    }
}
