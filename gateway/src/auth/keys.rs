//! Runtime API keys (`/admin/api-keys`): validation, durable writes before every 2xx, and the
//! in-memory index requests authenticate against. Secrets exist only as SHA-256 digests (hex in
//! the store); the secret itself is returned once, by create and rotate.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smg_sdk::{
    ApiKeyCreateRequest, ApiKeyInfo, ApiKeyList, ApiKeySummary, ApiKeyUpdateRequest, Role,
};

use super::secret::{self, Digest};
use crate::store::{Collection, SharedStore, StoreError};

pub const MAX_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_DESCRIPTION_LEN: usize = 1024;
pub const MIN_CUSTOM_KEY_LEN: usize = 16;
pub const MAX_CUSTOM_KEY_LEN: usize = 256;
pub const SHOWN_ONCE: &str = "Store this key securely. It will not be shown again.";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("API key '{0}' already exists")]
    AlreadyExists(String),
    #[error("this secret is already in use by another credential; choose another or omit `key`")]
    SecretInUse,
    #[error("API key '{0}' not found")]
    NotFound(String),
    #[error("the maximum number of API keys ({0}) has been reached; delete unused keys first")]
    LimitReached(usize),
    #[error(
        "refusing to {action} API key '{id}': it is the last way to authenticate as admin on the control plane; create another admin key first"
    )]
    LastAdminCredential { action: &'static str, id: String },
    #[error("could not persist the change: {0}")]
    Store(#[from] StoreError),
}

/// A key as stored. `key_sha256` is the hex SHA-256 of the secret; the secret is not stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub role: Role,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_by: Option<String>,
    pub key_sha256: String,
    pub key_last4: String,
}

impl StoredKey {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Enabled and not expired.
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.enabled && !self.is_expired(now)
    }

    pub fn masked(&self) -> String {
        secret::mask(&self.key_last4)
    }

    pub fn info(&self, now: DateTime<Utc>) -> ApiKeyInfo {
        ApiKeyInfo {
            id: self.id.clone(),
            masked_key: self.masked(),
            name: self.name.clone(),
            description: self.description.clone(),
            role: self.role,
            enabled: self.enabled,
            is_active: self.enabled,
            is_expired: self.is_expired(now),
            is_valid: self.is_valid(now),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            created_by: self.created_by.clone(),
        }
    }
}

/// A key in memory, with its digest decoded.
#[derive(Clone)]
pub struct RuntimeKey {
    pub record: StoredKey,
    pub digest: Digest,
}

fn decode_digest(record: &StoredKey) -> Result<Digest, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        kind: "api_keys".into(),
        id: record.id.clone(),
        message,
    };
    let bytes = hex::decode(&record.key_sha256).map_err(|e| corrupt(e.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| corrupt("key digest is not 32 bytes".into()))
}

/// What a presented secret matched among the runtime keys.
pub enum KeyMatch {
    Valid(StoredKey),
    Disabled(StoredKey),
    Expired(StoredKey),
}

/// The rest of the credential picture, needed to refuse a change that would lock every admin
/// out (see [`KeyStore`]'s lockout rule).
#[derive(Debug, Clone, Copy)]
pub struct OtherCredentials {
    /// A static key with the admin role exists.
    pub static_admin: bool,
    /// Any static key exists (the control plane is then closed whatever the runtime keys).
    pub any_static: bool,
    /// JWT is configured.
    pub jwt: bool,
    /// `--api-key` is set (admin fallback while no control-plane credential exists).
    pub shared_key: bool,
    /// An open control plane is acceptable (loopback, or `--allow-unauthenticated-admin`).
    pub open_allowed: bool,
}

impl OtherCredentials {
    /// Whether some way to act as admin remains with `keys` as the runtime keys.
    fn admin_path_remains<'a>(
        &self,
        keys: impl Iterator<Item = &'a StoredKey> + Clone,
        now: DateTime<Utc>,
    ) -> bool {
        if self.static_admin || self.jwt {
            return true;
        }
        if keys.clone().any(|k| k.role.is_admin() && k.is_valid(now)) {
            return true;
        }
        let closed = self.any_static || keys.clone().any(|k| k.role.is_admin());
        !closed && (self.shared_key || self.open_allowed)
    }
}

/// The runtime keys: persisted in the store, indexed in memory.
pub struct KeyStore {
    store: Collection<StoredKey>,
    keys: RwLock<Arc<Vec<RuntimeKey>>>,
    /// Serialises changes so duplicate-id, count and lockout checks hold.
    write: tokio::sync::Mutex<()>,
    max_keys: usize,
}

pub fn validate_id(id: &str) -> Result<(), KeyError> {
    if id.is_empty() || id.chars().count() > MAX_ID_LEN {
        return Err(KeyError::Invalid(format!(
            "`id` must be 1-{MAX_ID_LEN} characters"
        )));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(KeyError::Invalid(
            "`id` may contain only letters, digits, '.', '_' and '-'".into(),
        ));
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), KeyError> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(KeyError::Invalid(format!(
            "`name` must be 1-{MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

fn validate_description(description: &str) -> Result<(), KeyError> {
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(KeyError::Invalid(format!(
            "`description` must be at most {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    Ok(())
}

fn validate_custom_key(key: &str) -> Result<(), KeyError> {
    // A JWT-shaped key would be read as a JWT by the authenticator and never match.
    if super::jwt::looks_like_jwt(key) {
        return Err(KeyError::Invalid(
            "`key` must not look like a JWT (three dot-separated parts)".into(),
        ));
    }
    let len = key.chars().count();
    if !(MIN_CUSTOM_KEY_LEN..=MAX_CUSTOM_KEY_LEN).contains(&len)
        || !key.chars().all(|c| c.is_ascii_graphic())
    {
        // Never echo the key.
        return Err(KeyError::Invalid(format!(
            "`key` must be {MIN_CUSTOM_KEY_LEN}-{MAX_CUSTOM_KEY_LEN} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

/// A created or rotated key with its secret, for the one answer that shows it.
pub struct WithSecret {
    pub record: StoredKey,
    pub secret: String,
}

impl KeyStore {
    /// Load every stored key.
    pub async fn load(store: SharedStore, max_keys: usize) -> Result<Self, StoreError> {
        let collection: Collection<StoredKey> = Collection::new(store, "api_keys");
        let mut keys = Vec::new();
        for (_, record) in collection.list().await? {
            let digest = decode_digest(&record)?;
            keys.push(RuntimeKey { record, digest });
        }
        Ok(Self {
            store: collection,
            keys: RwLock::new(Arc::new(keys)),
            write: tokio::sync::Mutex::new(()),
            max_keys,
        })
    }

    /// A snapshot of the keys.
    pub fn snapshot(&self) -> Arc<Vec<RuntimeKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, keys: Vec<RuntimeKey>) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
    }

    /// Whether any runtime key has `role` (enabled or not).
    pub fn any_with_role(&self, role: Role) -> bool {
        self.snapshot().iter().any(|k| k.record.role == role)
    }

    /// Look a presented secret up, comparing it with every key in constant time.
    pub fn lookup(&self, presented: &Digest) -> Option<KeyMatch> {
        let keys = self.snapshot();
        let found = secret::find_digest(keys.iter(), presented, |k| &k.digest)?;
        let record = found.record.clone();
        let now = Utc::now();
        Some(if !record.enabled {
            KeyMatch::Disabled(record)
        } else if record.is_expired(now) {
            KeyMatch::Expired(record)
        } else {
            KeyMatch::Valid(record)
        })
    }

    pub fn list(&self) -> ApiKeyList {
        let now = Utc::now();
        let keys = self.snapshot();
        let mut summary = ApiKeySummary {
            total: keys.len(),
            ..ApiKeySummary::default()
        };
        for k in keys.iter() {
            if !k.record.enabled {
                summary.disabled += 1;
            } else if k.record.is_expired(now) {
                summary.expired += 1;
            } else {
                summary.active += 1;
            }
        }
        ApiKeyList {
            keys: keys.iter().map(|k| k.record.info(now)).collect(),
            summary,
        }
    }

    pub fn get(&self, id: &str) -> Result<StoredKey, KeyError> {
        self.snapshot()
            .iter()
            .find(|k| k.record.id == id)
            .map(|k| k.record.clone())
            .ok_or_else(|| KeyError::NotFound(id.to_string()))
    }

    /// `POST /admin/api-keys`. `taken` tells whether a digest belongs to another credential
    /// (a static key or `--api-key`).
    pub async fn create(
        &self,
        request: ApiKeyCreateRequest,
        created_by: Option<String>,
        others: OtherCredentials,
        taken: impl Fn(&Digest) -> bool,
    ) -> Result<WithSecret, KeyError> {
        validate_id(&request.id)?;
        let name = request.name.clone().unwrap_or_else(|| request.id.clone());
        validate_name(&name)?;
        if let Some(d) = &request.description {
            validate_description(d)?;
        }
        let now = Utc::now();
        if let Some(t) = request.expires_at
            && t <= now
        {
            return Err(KeyError::Invalid(
                "`expires_at` must be in the future".into(),
            ));
        }
        let secret = match &request.key {
            Some(custom) => {
                validate_custom_key(custom.expose())?;
                custom.expose().to_string()
            }
            None => secret::generate(),
        };
        let digest = secret::digest(&secret);

        let _guard = self.write.lock().await;
        let keys = self.snapshot();
        if keys.iter().any(|k| k.record.id == request.id) {
            return Err(KeyError::AlreadyExists(request.id));
        }
        if keys.len() >= self.max_keys {
            return Err(KeyError::LimitReached(self.max_keys));
        }
        if taken(&digest) || secret::find_digest(keys.iter(), &digest, |k| &k.digest).is_some() {
            return Err(KeyError::SecretInUse);
        }
        let record = StoredKey {
            id: request.id.clone(),
            name,
            description: request.description.clone(),
            role: request.role.unwrap_or_default(),
            enabled: request.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
            expires_at: request.expires_at,
            created_by,
            key_sha256: hex::encode(digest),
            key_last4: secret::last4(&secret),
        };
        let mut next = keys.as_ref().clone();
        next.push(RuntimeKey {
            record: record.clone(),
            digest,
        });
        // E.g. a disabled admin key on an open control plane would close it with no way in.
        self.check_lockout(&keys, &next, "create", &record.id, others)?;
        // Durable before the 201 (decision D6).
        self.store.put(&record.id, &record).await?;
        self.replace(next);
        Ok(WithSecret { record, secret })
    }

    /// Apply `change` to key `id` under the write lock, refuse it if it would lock every admin
    /// out, persist it, then publish it.
    async fn modify(
        &self,
        id: &str,
        action: &'static str,
        others: OtherCredentials,
        change: impl FnOnce(&mut RuntimeKey) -> Result<(), KeyError>,
    ) -> Result<StoredKey, KeyError> {
        let _guard = self.write.lock().await;
        let keys = self.snapshot();
        let index = keys
            .iter()
            .position(|k| k.record.id == id)
            .ok_or_else(|| KeyError::NotFound(id.to_string()))?;
        let mut next = keys.as_ref().clone();
        change(&mut next[index])?;
        next[index].record.updated_at = Utc::now();
        self.check_lockout(&keys, &next, action, id, others)?;
        let record = next[index].record.clone();
        self.store.put(id, &record).await?;
        self.replace(next);
        Ok(record)
    }

    fn check_lockout(
        &self,
        before: &[RuntimeKey],
        after: &[RuntimeKey],
        action: &'static str,
        id: &str,
        others: OtherCredentials,
    ) -> Result<(), KeyError> {
        let now = Utc::now();
        let had = others.admin_path_remains(before.iter().map(|k| &k.record), now);
        let has = others.admin_path_remains(after.iter().map(|k| &k.record), now);
        if had && !has {
            return Err(KeyError::LastAdminCredential {
                action,
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// `PUT /admin/api-keys/{id}`.
    pub async fn update(
        &self,
        id: &str,
        update: ApiKeyUpdateRequest,
        others: OtherCredentials,
    ) -> Result<StoredKey, KeyError> {
        if let Some(name) = &update.name {
            validate_name(name)?;
        }
        if let Some(d) = &update.description {
            validate_description(d)?;
        }
        self.modify(id, "update", others, move |k| {
            let r = &mut k.record;
            if let Some(name) = update.name {
                r.name = name;
            }
            if let Some(d) = update.description {
                r.description = (!d.is_empty()).then_some(d);
            }
            if let Some(role) = update.role {
                r.role = role;
            }
            if let Some(enabled) = update.enabled {
                r.enabled = enabled;
            }
            if let Some(expires_at) = update.expires_at {
                r.expires_at = expires_at;
            }
            Ok(())
        })
        .await
    }

    pub async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        others: OtherCredentials,
    ) -> Result<StoredKey, KeyError> {
        let action = if enabled { "enable" } else { "disable" };
        self.modify(id, action, others, move |k| {
            k.record.enabled = enabled;
            Ok(())
        })
        .await
    }

    /// `POST /admin/api-keys/{id}/rotate`: a new secret; the old one stops working as soon as
    /// the change is stored.
    pub async fn rotate(&self, id: &str, others: OtherCredentials) -> Result<WithSecret, KeyError> {
        let secret = secret::generate();
        let digest = secret::digest(&secret);
        let last4 = secret::last4(&secret);
        let record = self
            .modify(id, "rotate", others, move |k| {
                k.digest = digest;
                k.record.key_sha256 = hex::encode(digest);
                k.record.key_last4 = last4;
                Ok(())
            })
            .await?;
        Ok(WithSecret { record, secret })
    }

    /// `DELETE /admin/api-keys/{id}`.
    pub async fn delete(&self, id: &str, others: OtherCredentials) -> Result<(), KeyError> {
        let _guard = self.write.lock().await;
        let keys = self.snapshot();
        if !keys.iter().any(|k| k.record.id == id) {
            return Err(KeyError::NotFound(id.to_string()));
        }
        let next: Vec<RuntimeKey> = keys.iter().filter(|k| k.record.id != id).cloned().collect();
        self.check_lockout(&keys, &next, "delete", id, others)?;
        self.store.delete(id).await?;
        self.replace(next);
        Ok(())
    }

    /// Number of keys by id, for logs.
    pub fn count(&self) -> usize {
        self.snapshot().len()
    }
}
