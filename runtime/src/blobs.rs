//! A content-addressed store for inputs too large for the log (an hour's readings, a
//! label delivery's rows) and for model artifacts.
//!
//! A blob is named by the SHA-256 of its uncompressed bytes and stored gzip-compressed
//! as `<dir>/<sha256>.gz`, written to a temporary file and renamed, so a crash leaves
//! either the whole blob or none. Reading decompresses and re-hashes: a blob that does
//! not hash to its name is an error, never silently used.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use crate::error::{io, Error, Result};

/// Largest blob accepted (uncompressed), so a damaged size cannot exhaust memory.
pub const MAX_BLOB_BYTES: u64 = 256 * 1024 * 1024;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A folder of content-addressed blobs.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.gz"))
    }

    /// Stores `bytes`; returns their SHA-256. Storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<String> {
        if bytes.len() as u64 > MAX_BLOB_BYTES {
            return Err(self.error("(new)", format!("{} bytes exceed the limit", bytes.len())));
        }
        let sha = sha256_hex(bytes);
        let path = self.path_of(&sha);
        if path.exists() {
            return Ok(sha);
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let tmp = self.dir.join(format!("{sha}.tmp"));
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut gz = GzEncoder::new(file, Compression::fast());
        gz.write_all(bytes).map_err(io(&tmp))?;
        gz.finish().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(sha)
    }

    /// Reads the blob named `sha256`, checking that it hashes to its name.
    pub fn get(&self, sha256: &str) -> Result<Vec<u8>> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error(sha256, "not a SHA-256 name".into()));
        }
        let path = self.path_of(sha256);
        let file = std::fs::File::open(&path)
            .map_err(|e| self.error(sha256, format!("cannot open {}: {e}", path.display())))?;
        let mut bytes = Vec::new();
        GzDecoder::new(file)
            .take(MAX_BLOB_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.error(sha256, format!("cannot decompress: {e}")))?;
        if bytes.len() as u64 > MAX_BLOB_BYTES {
            return Err(self.error(sha256, "larger than the limit".into()));
        }
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(self.error(sha256, format!("content hashes to {actual}")));
        }
        Ok(bytes)
    }

    fn error(&self, sha256: &str, reason: String) -> Error {
        Error::Blob {
            dir: self.dir.clone(),
            sha256: sha256.to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored blob reads back; a blob whose bytes were changed is refused.
    #[test]
    fn blobs_round_trip_and_detect_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("b"));
        let sha = store.put(b"hello readings").unwrap();
        assert_eq!(store.get(&sha).unwrap(), b"hello readings");
        let other = store.put(b"other bytes").unwrap();
        std::fs::copy(store.path_of(&other), store.path_of(&sha)).unwrap();
        let err = store.get(&sha).unwrap_err().to_string();
        assert!(err.contains("hashes to"), "{err}");
    }
}
