//! The embedded default store: one SQLite file, WAL mode, fsync on commit.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Store, StoreError};

const SCHEMA_VERSION: i64 = 1;

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&path))
            .await
            .map_err(backend)??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection off the async runtime.
    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| backend("store lock poisoned"))?;
            f(&mut guard).map_err(backend)
        })
        .await
        .map_err(backend)?
    }
}

fn open_blocking(path: &PathBuf) -> Result<Connection, StoreError> {
    let fail = |message: String| StoreError::Open {
        path: path.display().to_string(),
        message,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(fail(format!(
            "directory {} does not exist: create it, or pass --store with a path in an existing directory",
            parent.display()
        )));
    }
    if path.is_dir() {
        return Err(fail(
            "this is a directory, not a store file: pass --store with a file path (it is created if missing)".into(),
        ));
    }
    let access = |e: rusqlite::Error| {
        fail(format!(
            "cannot open it ({e}): check that this user can read and write the file and its directory (SQLite keeps -wal and -shm files beside it), or pass --store with another path"
        ))
    };
    const SET_ASIDE: &str = "restore the file from a backup, or move it (and its -wal and -shm files) aside to start with an empty store, which forgets runtime-added workers, tokenizers, modules, keys and the audit log";
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(access)?;
    // A file that is not a SQLite database only fails on first read, so read now.
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                fail(format!("not a readable smg store ({e}): {SET_ASIDE}"))
            }
            _ => access(e),
        })?;
    if check != "ok" {
        return Err(fail(format!(
            "integrity check failed ({check}): {SET_ASIDE}"
        )));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(access)?;
    if version > SCHEMA_VERSION {
        return Err(fail(format!(
            "written by a newer smg (schema {version}, this build knows {SCHEMA_VERSION}): run that smg version, or pass --store with another path"
        )));
    }
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         CREATE TABLE IF NOT EXISTS records (
             kind TEXT NOT NULL,
             id TEXT NOT NULL,
             body BLOB NOT NULL,
             seq INTEGER NOT NULL,
             PRIMARY KEY (kind, id)
         );
         CREATE TABLE IF NOT EXISTS logs (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             log TEXT NOT NULL,
             ts_ms INTEGER NOT NULL,
             body BLOB NOT NULL
         );
         CREATE INDEX IF NOT EXISTS logs_by_time ON logs (log, ts_ms);",
    )
    .map_err(access)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(access)?;
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    async fn put(&self, kind: &str, id: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let (kind, id) = (kind.to_string(), id.to_string());
        self.with(move |c| {
            // `seq` keeps first-insert order stable across updates.
            c.execute(
                "INSERT INTO records (kind, id, body, seq)
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM records))
                 ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                params![kind, id, body],
            )
            .map(|_| ())
        })
        .await
    }

    async fn delete(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let (kind, id) = (kind.to_string(), id.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM records WHERE kind = ?1 AND id = ?2",
                params![kind, id],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (kind, id) = (kind.to_string(), id.to_string());
        self.with(move |c| {
            c.query_row(
                "SELECT body FROM records WHERE kind = ?1 AND id = ?2",
                params![kind, id],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn list(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let kind = kind.to_string();
        self.with(move |c| {
            let mut stmt =
                c.prepare("SELECT id, body FROM records WHERE kind = ?1 ORDER BY seq")?;
            let rows = stmt.query_map(params![kind], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn append(&self, log: &str, ts_ms: i64, body: Vec<u8>) -> Result<i64, StoreError> {
        let log = log.to_string();
        self.with(move |c| {
            c.execute(
                "INSERT INTO logs (log, ts_ms, body) VALUES (?1, ?2, ?3)",
                params![log, ts_ms, body],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn query_log(
        &self,
        log: &str,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let log = log.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT body FROM logs WHERE log = ?1 AND ts_ms >= ?2 AND ts_ms < ?3
                 ORDER BY seq DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![log, since_ms, until_ms, limit], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn prune_log(&self, log: &str, before_ms: i64, keep: usize) -> Result<(), StoreError> {
        let log = log.to_string();
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.with(move |c| {
            c.execute(
                "DELETE FROM logs WHERE log = ?1 AND (ts_ms < ?2 OR seq NOT IN
                   (SELECT seq FROM logs WHERE log = ?1 ORDER BY seq DESC LIMIT ?3))",
                params![log, before_ms, keep],
            )
            .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopen_in_insert_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let store = SqliteStore::open(&path).await.unwrap();
            store.put("workers", "b", b"1".to_vec()).await.unwrap();
            store.put("workers", "a", b"2".to_vec()).await.unwrap();
            store.put("workers", "b", b"3".to_vec()).await.unwrap();
            store.put("other", "a", b"x".to_vec()).await.unwrap();
            assert!(store.delete("other", "a").await.unwrap());
            assert!(!store.delete("other", "a").await.unwrap());
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let rows = store.list("workers").await.unwrap();
        assert_eq!(
            rows,
            vec![
                ("b".to_string(), b"3".to_vec()),
                ("a".to_string(), b"2".to_vec())
            ]
        );
        assert!(store.list("other").await.unwrap().is_empty());
        assert_eq!(
            store.get("workers", "a").await.unwrap(),
            Some(b"2".to_vec())
        );
    }

    #[tokio::test]
    async fn garbage_file_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = SqliteStore::open(&path).await.err().unwrap();
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
        assert!(err.to_string().contains("bad.db"), "{err}");
    }

    #[tokio::test]
    async fn missing_directory_is_an_open_error() {
        let err = SqliteStore::open(Path::new("/nonexistent-dir/x.db"))
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[tokio::test]
    async fn log_query_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("l.db")).await.unwrap();
        for i in 0..10 {
            store.append("audit", i * 10, vec![i as u8]).await.unwrap();
        }
        let rows = store.query_log("audit", 20, 60, 3).await.unwrap();
        assert_eq!(rows, vec![vec![5], vec![4], vec![3]]);
        store.prune_log("audit", 30, 5).await.unwrap();
        let rows = store.query_log("audit", 0, i64::MAX, 100).await.unwrap();
        assert_eq!(rows, vec![vec![9], vec![8], vec![7], vec![6], vec![5]]);
    }
}
