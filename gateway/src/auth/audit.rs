//! The stored audit log: every control-plane change and every refused control-plane request
//! becomes an [`AuditEvent`] in the store's `audit` log, queryable with `GET /admin/audit`,
//! pruned by age and count. Summaries are redacted: no secret is ever recorded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use smg_sdk::{AuditEvent, AuditOutcome, AuditQuery, Principal};

use crate::store::{SharedStore, StoreError};

pub const LOG: &str = "audit";
/// Longest summary, in bytes.
pub const MAX_SUMMARY_BYTES: usize = 1024;
pub const DEFAULT_QUERY_LIMIT: usize = 100;
pub const MAX_QUERY_LIMIT: usize = 1000;
/// Rows read per store query while filtering.
const PAGE: usize = 500;
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Refused requests recorded per second on average, and in a burst; beyond that they are
/// counted and recorded as one summary event, so unauthenticated traffic cannot flush the log.
const DENIED_PER_SEC: f64 = 20.0;
const DENIED_BURST: f64 = 200.0;

/// A token bucket for refused-request events.
struct Bucket {
    tokens: f64,
    last: Instant,
    suppressed: u64,
}

pub struct AuditLog {
    store: SharedStore,
    pub enabled: bool,
    retention: Duration,
    max_events: usize,
    denied: Mutex<Bucket>,
}

/// The parts of an event the middleware knows.
pub struct EventInput<'a> {
    pub principal: Option<&'a Principal>,
    /// For refused requests: the key id a disabled or expired key belonged to.
    pub principal_hint: Option<String>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub request_id: Option<String>,
    pub outcome: AuditOutcome,
    pub summary: Option<String>,
}

impl AuditLog {
    pub fn new(store: SharedStore, enabled: bool, retention: Duration, max_events: usize) -> Self {
        Self {
            store,
            enabled,
            retention,
            max_events: max_events.max(1),
            denied: Mutex::new(Bucket {
                tokens: DENIED_BURST,
                last: Instant::now(),
                suppressed: 0,
            }),
        }
    }

    /// Record an event (awaited, so a 2xx is only sent once its event is stored). Failures to
    /// store are logged, never turned into a failed request.
    pub async fn record(&self, input: EventInput<'_>) {
        if !self.enabled {
            return;
        }
        // Refusals beyond the rate are counted, not stored; the count is written as one note
        // before the next event of any kind (or by the pruner), so none goes unaccounted.
        let suppressed = if input.outcome == AuditOutcome::Denied {
            match self.take_denied_token() {
                Some(n) => n,
                None => return,
            }
        } else {
            self.take_suppressed()
        };
        let now = Utc::now();
        if suppressed > 0 {
            self.append(&suppressed_note(suppressed, now)).await;
        }
        let event = AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            timestamp: now,
            principal_id: input
                .principal
                .map(|p| p.id.clone())
                .or(input.principal_hint),
            principal_name: input.principal.and_then(|p| p.name.clone()),
            auth_method: input.principal.map(|p| p.auth_method.clone()),
            role: input.principal.map(|p| p.role),
            method: input.method.to_string(),
            path: input.path.to_string(),
            status: input.status,
            request_id: input.request_id,
            outcome: input.outcome,
            summary: input.summary.map(|s| truncate(&s, MAX_SUMMARY_BYTES)),
        };
        tracing::info!(
            target: "smg::audit",
            principal = event.principal_id.as_deref().unwrap_or("-"),
            auth_method = event.auth_method.as_deref().unwrap_or("-"),
            method = %event.method,
            path = %event.path,
            status = event.status,
            outcome = event.outcome.as_str(),
            "audit"
        );
        self.append(&event).await;
    }

    async fn append(&self, event: &AuditEvent) {
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an audit event");
                return;
            }
        };
        if let Err(e) = self
            .store
            .append(LOG, event.timestamp.timestamp_millis(), body)
            .await
        {
            tracing::error!(error = %e, "cannot store an audit event");
        }
    }

    /// `Some(suppressed_so_far)` when a refused request may be recorded.
    fn take_denied_token(&self) -> Option<u64> {
        let mut b = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * DENIED_PER_SEC).min(DENIED_BURST);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Some(std::mem::take(&mut b.suppressed))
        } else {
            b.suppressed += 1;
            None
        }
    }

    /// The refusals counted but not stored since the last note.
    fn take_suppressed(&self) -> u64 {
        let mut b = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut b.suppressed)
    }

    /// Store the note of refusals not recorded, if any (so a flood that stops is still
    /// accounted for).
    pub async fn flush_suppressed(&self) {
        let n = self.take_suppressed();
        if n > 0 {
            self.append(&suppressed_note(n, Utc::now())).await;
        }
    }

    /// Events matching `filter` (the SDK's wire filter), newest first; no `limit` means
    /// [`DEFAULT_QUERY_LIMIT`].
    pub async fn query(&self, filter: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        let since = filter.since.map_or(i64::MIN, |t| t.timestamp_millis());
        let mut until = filter.until.map_or(i64::MAX, |t| t.timestamp_millis());
        let limit = filter
            .limit
            .unwrap_or(DEFAULT_QUERY_LIMIT)
            .clamp(1, MAX_QUERY_LIMIT);
        let unfiltered = filter.principal.is_none() && filter.path.is_none();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut scanned = 0usize;
        loop {
            let page = if unfiltered { limit } else { PAGE };
            let rows = self.store.query_log(LOG, since, until, page).await?;
            let full = rows.len() == page;
            let mut oldest = None;
            let mut new_rows = 0;
            for row in rows {
                scanned += 1;
                let event: AuditEvent = match serde_json::from_slice(&row) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping an unreadable audit event");
                        continue;
                    }
                };
                let ts = event.timestamp.timestamp_millis();
                oldest = Some(oldest.map_or(ts, |o: i64| o.min(ts)));
                if !seen.insert(event.id.clone()) {
                    continue;
                }
                new_rows += 1;
                if matches(filter, &event) {
                    out.push(event);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            // Page on by time; events sharing the oldest millisecond are read again and
            // skipped by id.
            match oldest {
                Some(o) if full && new_rows > 0 && scanned < self.max_events => until = o + 1,
                _ => return Ok(out),
            }
        }
    }

    /// Delete events past the retention age and beyond the maximum count.
    pub async fn prune(&self) -> Result<(), StoreError> {
        let age = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let before = Utc::now()
            .checked_sub_signed(age)
            .map_or(i64::MIN, |t| t.timestamp_millis());
        self.store.prune_log(LOG, before, self.max_events).await
    }

    /// Prune now and then every minute while the gateway runs.
    pub fn spawn_pruner(self: &Arc<Self>) {
        if !self.enabled {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tick.tick().await;
                let Some(log) = weak.upgrade() else { return };
                log.flush_suppressed().await;
                if let Err(e) = log.prune().await {
                    tracing::warn!(error = %e, "cannot prune the audit log");
                }
            }
        });
    }
}

/// The event standing for `n` refused requests that were counted but not stored.
fn suppressed_note(n: u64, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp: at,
        principal_id: None,
        principal_name: None,
        auth_method: None,
        role: None,
        method: "-".into(),
        path: "-".into(),
        status: 0,
        request_id: None,
        outcome: AuditOutcome::Denied,
        summary: Some(format!(
            "{n} further refused control-plane requests were not recorded (rate limit)"
        )),
    }
}

fn matches(filter: &AuditQuery, event: &AuditEvent) -> bool {
    if let Some(p) = &filter.principal
        && event.principal_id.as_deref() != Some(p.as_str())
        && event.auth_method.as_deref() != Some(p.as_str())
    {
        return false;
    }
    if let Some(prefix) = &filter.path
        && !event.path.starts_with(prefix.as_str())
    {
        return false;
    }
    true
}

/// Cut `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Whether a JSON field name looks like it holds a secret.
pub fn is_secret_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "key",
        "secret",
        "token",
        "password",
        "passwd",
        "credential",
        "authorization",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

/// Replace the value of every secret-looking field (at any depth) by `"***"`.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_field(k) {
                    *v = Value::String("***".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `METHOD /path <redacted JSON body>`, or a note about a body that is not JSON.
pub fn summarize(method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> String {
    let mut summary = format!("{method} {path}");
    if body.is_empty() {
        return summary;
    }
    let is_json = content_type.is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.starts_with("application/json") || ct.contains("+json")
    });
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) if is_json => {
            redact(&mut value);
            summary.push(' ');
            summary.push_str(&value.to_string());
        }
        _ => summary.push_str(&format!(
            " <{} body, {} bytes>",
            content_type.unwrap_or("untyped"),
            body.len()
        )),
    }
    truncate(&summary, MAX_SUMMARY_BYTES)
}

/// An audit filter's instant: RFC 3339, Unix milliseconds, or an age such as `90s`, `15m`,
/// `1h`, `7d` before now. The error says what is accepted (never panics, never overflows).
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    let bad = || {
        format!(
            "must be an RFC 3339 time, Unix milliseconds, or an age like 15m, 1h, 7d (got '{raw}')"
        )
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(ms) = raw.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms).ok_or_else(bad);
    }
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = raw.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let age = chrono::Duration::try_seconds(n.saturating_mul(secs)).ok_or_else(bad)?;
    Utc::now().checked_sub_signed(age).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse() {
        assert!(parse_instant("2026-01-01T00:00:00Z").is_ok());
        assert!(parse_instant("1767225600000").is_ok());
        let hour = parse_instant("1h").unwrap();
        let age = Utc::now() - hour;
        assert!(age.num_seconds() >= 3599 && age.num_seconds() <= 3601);
        for bad in ["yesterday", "1w", "h", ""] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redacts_secret_fields_at_any_depth() {
        let body = br#"{"url":"http://w","api_key":"sk-SECRET","nested":{"Token":"t0k","ok":1},
            "list":[{"password":"p"}],"key":"k","labels":{"team":"a"}}"#;
        let s = summarize("POST", "/workers", Some("application/json"), body);
        assert!(s.starts_with("POST /workers {"), "{s}");
        for secret in ["sk-SECRET", "t0k", "\"p\"", "\"k\""] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
        assert!(
            s.contains("\"team\":\"a\"") && s.contains("http://w"),
            "{s}"
        );
    }

    #[test]
    fn non_json_bodies_are_described_not_copied() {
        let s = summarize(
            "POST",
            "/wasm",
            Some("multipart/form-data; b=x"),
            b"SECRETBYTES",
        );
        assert!(!s.contains("SECRETBYTES"), "{s}");
        assert!(s.contains("11 bytes"), "{s}");
        let s = summarize("POST", "/x", Some("application/json"), b"not json SECRET");
        assert!(!s.contains("SECRET"), "{s}");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let long = "é".repeat(2000);
        let t = truncate(&long, MAX_SUMMARY_BYTES);
        assert!(t.len() <= MAX_SUMMARY_BYTES && t.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");
    }
}
