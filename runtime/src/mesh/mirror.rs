//! The object stores and key-value bucket of one scenario: stored inputs and model
//! weights mirrored by SHA-256 (checked on download), the run's `summary.json`, and the
//! serving pointers (written only from the Releaser's state).

use std::path::Path;

use async_nats::jetstream::{kv, object_store};
use tokio::io::AsyncReadExt as _;

use crate::error::{io, nats, Error, Result};
use crate::host::INPUTS_DIR;
use crate::mesh::jetstream::JetStreamLog;
use crate::mesh::run::{bucket, ServingPointers, ROUTE_KEY, SUMMARY_OBJECT};

/// The object store and key-value bucket of one scenario.
#[derive(Clone)]
pub struct Mirror {
    inputs: object_store::ObjectStore,
    artifacts: object_store::ObjectStore,
    runs: object_store::ObjectStore,
    serving: kv::Store,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens (creating) the buckets of `scenario`.
    pub async fn open(log: &JetStreamLog, scenario: &str) -> Result<Self> {
        let js = log.context();
        let store = |what: &str| object_store::Config {
            bucket: bucket(scenario, what),
            ..Default::default()
        };
        let inputs = js
            .create_object_store(store("inputs"))
            .await
            .map_err(nats("object store inputs"))?;
        let artifacts = js
            .create_object_store(store("artifacts"))
            .await
            .map_err(nats("object store artifacts"))?;
        let runs = js
            .create_object_store(store("runs"))
            .await
            .map_err(nats("object store runs"))?;
        // The bucket's stream is created here rather than with `create_key_value`,
        // whose account query does not parse a NATS 2.9 reply; the settings are those
        // of a key-value bucket with a history of 16 writes.
        let serving_bucket = bucket(scenario, "serving");
        let kv_stream = async_nats::jetstream::stream::Config {
            name: format!("KV_{serving_bucket}"),
            subjects: vec![format!("$KV.{serving_bucket}.>")],
            max_messages_per_subject: 16,
            storage: async_nats::jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: async_nats::jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        js.get_or_create_stream(kv_stream)
            .await
            .map_err(nats("key-value bucket serving"))?;
        let serving = js
            .get_key_value(serving_bucket)
            .await
            .map_err(nats("key-value bucket serving"))?;
        Ok(Self {
            inputs,
            artifacts,
            runs,
            serving,
        })
    }

    fn store(&self, folder: &str) -> &object_store::ObjectStore {
        if folder == INPUTS_DIR {
            &self.inputs
        } else {
            &self.artifacts
        }
    }

    /// Stores one blob file under its file name.
    pub async fn put(&self, folder: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let mut reader = bytes;
        self.store(folder)
            .put(name, &mut reader)
            .await
            .map_err(nats(format!("store {folder}/{name}")))?;
        Ok(())
    }

    /// Every blob of `folder` written to `dir`, each checked against the SHA-256 its
    /// name carries (after decompression, as the blob store stores them).
    pub async fn download(&self, folder: &str, dir: &Path) -> Result<usize> {
        use futures::StreamExt as _;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut list = self
            .store(folder)
            .list()
            .await
            .map_err(nats(format!("list {folder}")))?;
        let mut names = Vec::new();
        while let Some(info) = list.next().await {
            names.push(info.map_err(nats(format!("list {folder}")))?.name);
        }
        names.sort();
        for name in &names {
            let mut object = self
                .store(folder)
                .get(name)
                .await
                .map_err(nats(format!("get {folder}/{name}")))?;
            let mut bytes = Vec::new();
            object
                .read_to_end(&mut bytes)
                .await
                .map_err(nats(format!("read {folder}/{name}")))?;
            let path = dir.join(name);
            std::fs::write(&path, &bytes).map_err(io(&path))?;
            let sha = name.trim_end_matches(".gz");
            crate::blobs::BlobStore::new(dir).get(sha)?;
        }
        Ok(names.len())
    }

    /// Stores the run's `summary.json` (what `report` draws its charts from).
    pub async fn put_summary(&self, bytes: &[u8]) -> Result<()> {
        let mut reader = bytes;
        self.runs
            .put(SUMMARY_OBJECT, &mut reader)
            .await
            .map_err(nats("store summary.json"))?;
        Ok(())
    }

    /// The run's `summary.json`, if the run finished.
    pub async fn summary(&self) -> Result<Option<Vec<u8>>> {
        let mut object = match self.runs.get(SUMMARY_OBJECT).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(nats("get summary.json")(e)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(nats("read summary.json"))?;
        Ok(Some(bytes))
    }

    /// Writes the serving pointers.
    pub async fn publish_route(&self, pointers: &ServingPointers) -> Result<()> {
        let bytes = serde_json::to_vec(pointers)?;
        self.serving
            .put(ROUTE_KEY, bytes.into())
            .await
            .map_err(nats("put serving route"))?;
        Ok(())
    }

    /// The serving pointers now, if any were written.
    pub async fn route(&self) -> Result<Option<ServingPointers>> {
        let value = self
            .serving
            .get(ROUTE_KEY)
            .await
            .map_err(nats("get serving route"))?;
        value
            .map(|v| serde_json::from_slice(&v).map_err(Error::from))
            .transpose()
    }
}
