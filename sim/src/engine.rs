//! The engine model behind a simulated worker: running slots, a waiting queue, KV tokens
//! held, a prefix cache and a generation-throughput window. Just enough for `/v1/loads`
//! and `/metrics` to move the way a real engine's would under the traffic it serves.

use std::collections::VecDeque;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cache::{BLOCK_SIZE, PrefixCache};
use super::lock;

/// Upper bound on cached blocks whatever the KV capacity, to keep memory small.
const MAX_CACHE_BLOCKS: usize = 4096;
/// Throughput is averaged over this many seconds.
const WINDOW_SECS: u64 = 5;

/// Words the simulated model cycles through; generation is deterministic.
const WORDS: [&str; 16] = [
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "mock",
    "workers", "serve", "tokens", "at", "scale",
];

/// Approximate tokenisation: one token per whitespace-separated word.
pub(crate) fn tokenize(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .map(|word| {
            let mut hasher = DefaultHasher::new();
            word.hash(&mut hasher);
            hasher.finish()
        })
        .collect()
}

/// Text of generated token `i`: the word list cycled, words separated by spaces.
pub(crate) fn token_text(i: usize) -> String {
    let word = WORDS[i % WORDS.len()];
    if i == 0 {
        word.to_string()
    } else {
        format!(" {word}")
    }
}

/// Generated tokens counted per whole second, covering the last [`WINDOW_SECS`] seconds.
#[derive(Debug, Default)]
struct ThroughputWindow {
    /// (second since engine start, tokens generated in it); at most `WINDOW_SECS` + 1 long.
    buckets: VecDeque<(u64, u64)>,
}

impl ThroughputWindow {
    fn prune(&mut self, now_sec: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|(sec, _)| sec + WINDOW_SECS <= now_sec)
        {
            self.buckets.pop_front();
        }
    }

    fn record(&mut self, now_sec: u64, tokens: u64) {
        match self.buckets.back_mut() {
            Some((sec, count)) if *sec == now_sec => *count += tokens,
            _ => self.buckets.push_back((now_sec, tokens)),
        }
        self.prune(now_sec);
    }

    /// Tokens per second over the window; a younger engine divides by its age (at least
    /// 1 s) so that early numbers are not diluted by time it did not exist.
    fn rate(&mut self, now_sec: u64, age: Duration) -> f64 {
        self.prune(now_sec);
        let tokens: u64 = self.buckets.iter().map(|(_, count)| count).sum();
        let span = age.as_secs_f64().clamp(1.0, WINDOW_SECS as f64);
        tokens as f64 / span
    }
}

#[derive(Debug)]
struct EngineState {
    cache: PrefixCache,
    throughput: ThroughputWindow,
    prompt_tokens_total: u64,
    cached_tokens_total: u64,
    generation_tokens_total: u64,
}

/// A point-in-time view of the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EngineSnapshot {
    pub running: usize,
    pub waiting: usize,
    /// Prompt tokens of the waiting requests.
    pub waiting_tokens: i64,
    /// KV tokens held by running requests plus resident cache blocks, capped at capacity.
    pub used_tokens: i64,
    pub max_total_tokens: i32,
    pub max_running_requests: usize,
    pub gen_throughput: f64,
    pub cache_hit_rate: f64,
    pub cache_entries: usize,
    pub prompt_tokens_total: u64,
    pub cached_tokens_total: u64,
    pub generation_tokens_total: u64,
}

impl EngineSnapshot {
    pub(crate) fn token_usage(&self) -> f64 {
        self.used_tokens as f64 / f64::from(self.max_total_tokens.max(1))
    }

    pub(crate) fn utilization(&self) -> f64 {
        self.running as f64 / self.max_running_requests.max(1) as f64
    }
}

/// Shared by every request a worker serves.
#[derive(Debug)]
pub(crate) struct Engine {
    max_running_requests: usize,
    max_total_tokens: i32,
    slots: Arc<Semaphore>,
    running: AtomicUsize,
    waiting: AtomicUsize,
    waiting_tokens: AtomicI64,
    /// KV tokens held by running requests (prompt plus generated so far).
    held_tokens: AtomicI64,
    started: Instant,
    state: Mutex<EngineState>,
}

impl Engine {
    pub(crate) fn new(max_running_requests: usize, max_total_tokens: i32) -> Self {
        // Zero slots would hang every request and a non-positive capacity would divide by
        // zero; clamp silly configurations instead of failing.
        let max_running_requests = max_running_requests.clamp(1, Semaphore::MAX_PERMITS);
        let max_total_tokens = max_total_tokens.max(1);
        let capacity_blocks = usize::try_from(max_total_tokens)
            .unwrap_or(1)
            .div_ceil(BLOCK_SIZE);
        Self {
            max_running_requests,
            max_total_tokens,
            slots: Arc::new(Semaphore::new(max_running_requests)),
            running: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            waiting_tokens: AtomicI64::new(0),
            held_tokens: AtomicI64::new(0),
            started: Instant::now(),
            state: Mutex::new(EngineState {
                cache: PrefixCache::new(capacity_blocks.min(MAX_CACHE_BLOCKS)),
                throughput: ThroughputWindow::default(),
                prompt_tokens_total: 0,
                cached_tokens_total: 0,
                generation_tokens_total: 0,
            }),
        }
    }

    fn now_sec(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub(crate) fn snapshot(&self) -> EngineSnapshot {
        let now_sec = self.now_sec();
        let age = self.started.elapsed();
        let mut state = lock(&self.state);
        let cache_entries = state.cache.len();
        let cached_blocks_tokens =
            i64::try_from(cache_entries.saturating_mul(BLOCK_SIZE)).unwrap_or(i64::MAX);
        let held = self.held_tokens.load(Ordering::Relaxed).max(0);
        let cache_hit_rate = if state.prompt_tokens_total == 0 {
            0.0
        } else {
            state.cached_tokens_total as f64 / state.prompt_tokens_total as f64
        };
        EngineSnapshot {
            running: self.running.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            waiting_tokens: self.waiting_tokens.load(Ordering::Relaxed).max(0),
            used_tokens: held
                .saturating_add(cached_blocks_tokens)
                .min(i64::from(self.max_total_tokens)),
            max_total_tokens: self.max_total_tokens,
            max_running_requests: self.max_running_requests,
            gen_throughput: state.throughput.rate(now_sec, age),
            cache_hit_rate,
            cache_entries,
            prompt_tokens_total: state.prompt_tokens_total,
            cached_tokens_total: state.cached_tokens_total,
            generation_tokens_total: state.generation_tokens_total,
        }
    }

    /// Empty the prefix cache (`/flush_cache`).
    pub(crate) fn flush(&self) {
        lock(&self.state).cache.clear();
    }

    /// Empty the cache and zero the cumulative counters (`/_mock/reset`). In-flight
    /// requests keep their slots.
    pub(crate) fn reset(&self) {
        let mut state = lock(&self.state);
        state.cache.clear();
        state.throughput = ThroughputWindow::default();
        state.prompt_tokens_total = 0;
        state.cached_tokens_total = 0;
        state.generation_tokens_total = 0;
    }

    /// Queue for a running slot, then prefill: look the prompt up in the prefix cache
    /// (when `use_cache`) and wait `prefill` (time to first token). The returned [`Run`]
    /// holds the slot until dropped, so a cancelled request frees it too.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        prompt: &[u64],
        use_cache: bool,
        prefill: Duration,
    ) -> Option<Run> {
        let prompt_tokens = i64::try_from(prompt.len()).unwrap_or(i64::MAX);
        let permit = {
            let _waiting = Waiting::new(self, prompt_tokens);
            // Only fails once the semaphore is closed, which never happens.
            Arc::clone(&self.slots).acquire_owned().await.ok()?
        };
        self.running.fetch_add(1, Ordering::Relaxed);
        self.held_tokens.fetch_add(prompt_tokens, Ordering::Relaxed);
        let mut run = Run {
            engine: Arc::clone(self),
            _permit: permit,
            held: prompt_tokens,
            prompt_tokens: prompt.len(),
            cached_tokens: 0,
            generated: 0,
        };
        if use_cache {
            let mut state = lock(&self.state);
            run.cached_tokens = state.cache.match_and_insert(prompt);
            state.prompt_tokens_total += prompt.len() as u64;
            state.cached_tokens_total += run.cached_tokens as u64;
        }
        if !prefill.is_zero() {
            tokio::time::sleep(prefill).await;
        }
        Some(run)
    }
}

/// Counts a request as waiting for as long as it lives.
struct Waiting<'a> {
    engine: &'a Engine,
    tokens: i64,
}

impl<'a> Waiting<'a> {
    fn new(engine: &'a Engine, tokens: i64) -> Self {
        engine.waiting.fetch_add(1, Ordering::Relaxed);
        engine.waiting_tokens.fetch_add(tokens, Ordering::Relaxed);
        Self { engine, tokens }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.engine.waiting.fetch_sub(1, Ordering::Relaxed);
        self.engine
            .waiting_tokens
            .fetch_sub(self.tokens, Ordering::Relaxed);
    }
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub cached_tokens: usize,
}

impl Usage {
    pub(crate) fn total_tokens(&self) -> usize {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A request holding a running slot; releases it (and its KV tokens) when dropped.
#[derive(Debug)]
pub(crate) struct Run {
    engine: Arc<Engine>,
    _permit: OwnedSemaphorePermit,
    held: i64,
    prompt_tokens: usize,
    cached_tokens: usize,
    generated: usize,
}

impl Run {
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.generated,
            cached_tokens: self.cached_tokens,
        }
    }

    /// Decode the next token, `itl` after the previous one; returns its text.
    pub(crate) async fn next_token(&mut self, itl: Duration) -> String {
        if self.generated > 0 && !itl.is_zero() {
            tokio::time::sleep(itl).await;
        }
        let text = token_text(self.generated);
        self.generated += 1;
        self.held += 1;
        self.engine.held_tokens.fetch_add(1, Ordering::Relaxed);
        let now_sec = self.engine.now_sec();
        let mut state = lock(&self.engine.state);
        state.throughput.record(now_sec, 1);
        state.generation_tokens_total += 1;
        text
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.engine.running.fetch_sub(1, Ordering::Relaxed);
        self.engine
            .held_tokens
            .fetch_sub(self.held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_window_is_bounded_and_slides() {
        let mut window = ThroughputWindow::default();
        for sec in 0..100 {
            window.record(sec, 10);
            assert!(window.buckets.len() <= WINDOW_SECS as usize + 1);
        }
        let rate = window.rate(99, Duration::from_secs(100));
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        assert_eq!(window.rate(200, Duration::from_secs(200)), 0.0);
    }

    #[test]
    fn tokenizer_and_text_are_deterministic() {
        assert_eq!(tokenize("a  b\nc").len(), 3);
        assert_eq!(tokenize("x y"), tokenize("x   y"));
        assert!(tokenize("").is_empty());
        let text: String = (0..3).map(token_text).collect();
        assert_eq!(text, "the quick brown");
    }

    #[tokio::test]
    async fn run_guard_releases_slot_and_tokens() {
        let engine = Arc::new(Engine::new(1, 1000));
        let prompt = tokenize(&"w ".repeat(20));
        let mut run = engine.admit(&prompt, true, Duration::ZERO).await.unwrap();
        run.next_token(Duration::ZERO).await;
        let snap = engine.snapshot();
        assert_eq!(snap.running, 1);
        assert_eq!(
            snap.used_tokens,
            21 + 16,
            "held tokens plus one cached block"
        );
        drop(run);
        let snap = engine.snapshot();
        assert_eq!(snap.running, 0);
        assert_eq!(snap.used_tokens, 16);
        assert!(snap.gen_throughput > 0.0);
        engine.flush();
        assert_eq!(engine.snapshot().used_tokens, 0);
    }
}
