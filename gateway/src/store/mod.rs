//! Durable runtime state (decision D6). Handlers talk to typed [`Collection`]s; the backend
//! behind the [`Store`] trait is the embedded SQLite file today and can be a shared
//! database later without touching them.

mod sqlite;

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Open { path: String, message: String },
    #[error("store I/O failed: {0}")]
    Backend(String),
    #[error("stored {kind} record {id} is unreadable: {message}")]
    Corrupt {
        kind: String,
        id: String,
        message: String,
    },
}

/// A key-value document store, grouped by kind (`workers`, `tokenizers`, …).
/// Every write is durable when the future resolves.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn put(&self, kind: &str, id: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// Returns whether a record was removed.
    async fn delete(&self, kind: &str, id: &str) -> Result<bool, StoreError>;
    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// All records of a kind, oldest first.
    async fn list(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Append to an ordered log (the audit trail); returns the sequence number.
    async fn append(&self, log: &str, ts_ms: i64, body: Vec<u8>) -> Result<i64, StoreError>;
    /// Log entries with `since_ms <= ts < until_ms`, newest first, at most `limit`.
    async fn query_log(
        &self,
        log: &str,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Drop entries older than `before_ms` and all but the newest `keep`.
    async fn prune_log(&self, log: &str, before_ms: i64, keep: usize) -> Result<(), StoreError>;
}

pub type SharedStore = Arc<dyn Store>;

/// Open the store at `path` (created if missing). An unreadable or corrupt file is an
/// error, never a silently empty registry.
pub async fn open(path: &Path) -> Result<SharedStore, StoreError> {
    Ok(Arc::new(SqliteStore::open(path).await?))
}

/// A typed view of one kind of record.
pub struct Collection<T> {
    store: SharedStore,
    kind: &'static str,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            kind: self.kind,
            _marker: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    pub fn new(store: SharedStore, kind: &'static str) -> Self {
        Self {
            store,
            kind,
            _marker: PhantomData,
        }
    }

    pub async fn put(&self, id: &str, value: &T) -> Result<(), StoreError> {
        let body = serde_json::to_vec(value).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.store.put(self.kind, id, body).await
    }

    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.store.delete(self.kind, id).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<T>, StoreError> {
        match self.store.get(self.kind, id).await? {
            Some(body) => self.decode(id, &body).map(Some),
            None => Ok(None),
        }
    }

    pub async fn list(&self) -> Result<Vec<(String, T)>, StoreError> {
        self.store
            .list(self.kind)
            .await?
            .into_iter()
            .map(|(id, body)| self.decode(&id, &body).map(|v| (id, v)))
            .collect()
    }

    fn decode(&self, id: &str, body: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(body).map_err(|e| StoreError::Corrupt {
            kind: self.kind.to_string(),
            id: id.to_string(),
            message: e.to_string(),
        })
    }
}
