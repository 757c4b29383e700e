//! Load-balancing policies. Every policy first narrows the candidates to the highest
//! `priority` present (higher is preferred; lower tiers take traffic only when no
//! higher-priority worker is eligible), and load-aware choices weigh in-flight requests by
//! `cost` (cheaper wins at equal load).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::ValueEnum;
use rand::Rng;

use crate::workers::Worker;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PolicyKind {
    RoundRobin,
    Random,
    PowerOfTwo,
    LeastLoad,
    CacheAware,
}

/// Cache-aware tuning; the defaults are upstream's (`--cache-threshold`,
/// `--balance-abs-threshold`, `--balance-rel-threshold`).
#[derive(Debug, Clone, Copy)]
pub struct CacheAwareConfig {
    /// Minimum fraction of the prompt matched to prefer the matching worker.
    pub cache_threshold: f64,
    /// Imbalance (absolute in-flight difference) beyond which load wins over affinity…
    pub balance_abs_threshold: usize,
    /// …when the busiest worker also has this many times the idlest one's load.
    pub balance_rel_threshold: f64,
    /// Prefix entries remembered (bounded memory).
    pub max_entries: usize,
}

impl Default for CacheAwareConfig {
    fn default() -> Self {
        Self {
            cache_threshold: 0.3,
            balance_abs_threshold: 64,
            balance_rel_threshold: 1.5,
            max_entries: 200_000,
        }
    }
}

/// Characters per block of the approximate prefix tree.
const BLOCK_CHARS: usize = 32;
/// Workers remembered per prefix block.
const WORKERS_PER_BLOCK: usize = 4;

/// An approximate prefix tree: each prompt is cut into fixed-size character blocks; the hash
/// of every prefix ending on a block boundary maps to the workers that recently served it.
struct PrefixIndex {
    entries: lru::LruCache<u64, Vec<String>>,
}

impl PrefixIndex {
    fn new(capacity: usize) -> Self {
        Self {
            entries: lru::LruCache::new(
                NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN),
            ),
        }
    }

    fn block_hashes(prompt: &str) -> Vec<u64> {
        use std::hash::Hasher;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut hashes = Vec::new();
        let mut chars = 0;
        for c in prompt.chars() {
            hasher.write_u32(c as u32);
            chars += 1;
            if chars % BLOCK_CHARS == 0 {
                hashes.push(hasher.finish());
            }
        }
        hashes
    }

    /// Matched blocks per worker id, for the given block hashes.
    fn matches(&mut self, hashes: &[u64], candidates: &[Arc<Worker>]) -> Vec<usize> {
        let mut matched = vec![0usize; candidates.len()];
        for (depth, hash) in hashes.iter().enumerate() {
            let Some(workers) = self.entries.get(hash) else {
                break;
            };
            let mut any = false;
            for (i, c) in candidates.iter().enumerate() {
                if matched[i] == depth && workers.iter().any(|w| *w == c.id) {
                    matched[i] = depth + 1;
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        matched
    }

    fn insert(&mut self, hashes: &[u64], worker: &str) {
        for hash in hashes {
            let workers = self.entries.get_or_insert_mut(*hash, Vec::new);
            if let Some(pos) = workers.iter().position(|w| w == worker) {
                workers.remove(pos);
            }
            workers.insert(0, worker.to_string());
            workers.truncate(WORKERS_PER_BLOCK);
        }
    }
}

pub struct Policy {
    kind: PolicyKind,
    counter: AtomicUsize,
    cache: CacheAwareConfig,
    index: Mutex<PrefixIndex>,
}

fn effective_load(w: &Worker) -> f64 {
    (w.load() as f64 + 1.0) * f64::from(w.spec().cost.max(0.0001))
}

impl Policy {
    pub fn new(kind: PolicyKind, cache: CacheAwareConfig) -> Self {
        Self {
            kind,
            counter: AtomicUsize::new(0),
            index: Mutex::new(PrefixIndex::new(cache.max_entries)),
            cache,
        }
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Whether [`select`](Self::select) uses the prompt text.
    pub fn needs_prompt(&self) -> bool {
        self.kind == PolicyKind::CacheAware
    }

    /// Pick one of `candidates` (non-empty, in registry order).
    pub fn select(&self, candidates: &[Arc<Worker>], prompt: Option<&str>) -> Option<Arc<Worker>> {
        let top = candidates.iter().map(|w| w.spec().priority).max()?;
        let tier: Vec<Arc<Worker>> = candidates
            .iter()
            .filter(|w| w.spec().priority == top)
            .cloned()
            .collect();
        let chosen = match self.kind {
            PolicyKind::RoundRobin => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                tier[n % tier.len()].clone()
            }
            PolicyKind::Random => tier[rand::rng().random_range(0..tier.len())].clone(),
            PolicyKind::PowerOfTwo => {
                if tier.len() == 1 {
                    tier[0].clone()
                } else {
                    let mut rng = rand::rng();
                    let a = rng.random_range(0..tier.len());
                    let mut b = rng.random_range(0..tier.len() - 1);
                    if b >= a {
                        b += 1;
                    }
                    if effective_load(&tier[b]) < effective_load(&tier[a]) {
                        tier[b].clone()
                    } else {
                        tier[a].clone()
                    }
                }
            }
            PolicyKind::LeastLoad => self.least_loaded(&tier),
            PolicyKind::CacheAware => self.cache_aware(&tier, prompt.unwrap_or_default()),
        };
        Some(chosen)
    }

    /// Least effective load; ties rotate so idle workers share traffic evenly.
    fn least_loaded(&self, tier: &[Arc<Worker>]) -> Arc<Worker> {
        let start = self.counter.fetch_add(1, Ordering::Relaxed) % tier.len();
        let mut best = tier[start].clone();
        let mut best_load = effective_load(&best);
        for i in 1..tier.len() {
            let w = &tier[(start + i) % tier.len()];
            let load = effective_load(w);
            if load < best_load {
                best = w.clone();
                best_load = load;
            }
        }
        best
    }

    fn cache_aware(&self, tier: &[Arc<Worker>], prompt: &str) -> Arc<Worker> {
        let loads: Vec<usize> = tier.iter().map(|w| w.load()).collect();
        let (min, max) = (
            loads.iter().copied().min().unwrap_or(0),
            loads.iter().copied().max().unwrap_or(0),
        );
        let imbalanced = max.saturating_sub(min) > self.cache.balance_abs_threshold
            && (max as f64) > (min as f64) * self.cache.balance_rel_threshold;
        let hashes = PrefixIndex::block_hashes(prompt);
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let chosen = if imbalanced || hashes.is_empty() {
            self.least_loaded(tier)
        } else {
            let matched = index.matches(&hashes, tier);
            let (best, blocks) = matched
                .iter()
                .enumerate()
                .max_by_key(|(i, m)| (**m, std::cmp::Reverse(loads[*i])))
                .map(|(i, m)| (i, *m))
                .unwrap_or((0, 0));
            if blocks as f64 / hashes.len() as f64 > self.cache.cache_threshold {
                tier[best].clone()
            } else {
                self.least_loaded(tier)
            }
        };
        index.insert(&hashes, &chosen.id);
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smg_sdk::{WorkerSpec, WorkerStatus};

    fn worker(id: &str, priority: u32) -> Arc<Worker> {
        let mut spec = WorkerSpec::new(format!("http://{id}:1"));
        spec.priority = priority;
        Arc::new(Worker::new(id.into(), spec, WorkerStatus::Ready))
    }

    #[test]
    fn round_robin_is_exact() {
        let ws = vec![worker("a", 50), worker("b", 50), worker("c", 50)];
        let p = Policy::new(PolicyKind::RoundRobin, CacheAwareConfig::default());
        let picks: Vec<String> = (0..6)
            .map(|_| p.select(&ws, None).unwrap().id.clone())
            .collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn higher_priority_tier_wins() {
        let ws = vec![worker("low", 10), worker("high", 90)];
        for kind in [
            PolicyKind::RoundRobin,
            PolicyKind::Random,
            PolicyKind::PowerOfTwo,
            PolicyKind::LeastLoad,
            PolicyKind::CacheAware,
        ] {
            let p = Policy::new(kind, CacheAwareConfig::default());
            for _ in 0..10 {
                assert_eq!(p.select(&ws, Some("x")).unwrap().id, "high", "{kind:?}");
            }
        }
    }

    fn counts(
        p: &Policy,
        ws: &[Arc<Worker>],
        n: usize,
    ) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..n {
            *counts
                .entry(p.select(ws, None).unwrap().id.clone())
                .or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn random_spreads_evenly() {
        let ws = vec![worker("a", 50), worker("b", 50), worker("c", 50)];
        let p = Policy::new(PolicyKind::Random, CacheAwareConfig::default());
        let counts = counts(&p, &ws, 3000);
        // 1000 expected each; the bounds are more than seven standard deviations away.
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(
            counts.values().all(|c| (800..=1200).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn power_of_two_spreads_when_idle_and_avoids_the_busier_choice() {
        let ws = vec![worker("a", 50), worker("b", 50), worker("c", 50)];
        let p = Policy::new(PolicyKind::PowerOfTwo, CacheAwareConfig::default());
        let idle = counts(&p, &ws, 3000);
        assert_eq!(idle.len(), 3, "{idle:?}");
        assert!(idle.values().all(|c| (800..=1200).contains(c)), "{idle:?}");
        // Every pair drawn holds an idle worker, so the busy one is never chosen and the two
        // idle ones share the traffic.
        ws[0].in_flight.store(5, Ordering::Relaxed);
        let busy = counts(&p, &ws, 1000);
        assert_eq!(busy.get("a"), None, "{busy:?}");
        assert!(busy.values().all(|c| (400..=600).contains(c)), "{busy:?}");
    }

    #[test]
    fn cheaper_wins_at_equal_load() {
        let costly = worker("costly", 50);
        let mut spec = (*costly.spec()).clone();
        spec.cost = 2.0;
        costly.set_spec(spec);
        let ws = vec![costly, worker("cheap", 50)];
        for kind in [
            PolicyKind::PowerOfTwo,
            PolicyKind::LeastLoad,
            PolicyKind::CacheAware,
        ] {
            let p = Policy::new(kind, CacheAwareConfig::default());
            for _ in 0..20 {
                assert_eq!(p.select(&ws, Some("")).unwrap().id, "cheap", "{kind:?}");
            }
        }
        // A cost weighs load: the cheap worker with one request in flight (2 × 1.0) ties
        // the idle costly one (1 × 2.0), and with two it loses.
        ws[1].in_flight.store(2, Ordering::Relaxed);
        let p = Policy::new(PolicyKind::LeastLoad, CacheAwareConfig::default());
        assert_eq!(p.select(&ws, None).unwrap().id, "costly");
    }

    #[test]
    fn least_load_prefers_the_idle_worker() {
        let ws = vec![worker("busy", 50), worker("idle", 50)];
        ws[0].in_flight.store(5, Ordering::Relaxed);
        let p = Policy::new(PolicyKind::LeastLoad, CacheAwareConfig::default());
        for _ in 0..5 {
            assert_eq!(p.select(&ws, None).unwrap().id, "idle");
        }
    }

    #[test]
    fn cache_aware_sends_a_repeated_prefix_to_the_same_worker() {
        let ws = vec![worker("a", 50), worker("b", 50), worker("c", 50)];
        let p = Policy::new(PolicyKind::CacheAware, CacheAwareConfig::default());
        let system =
            "You are a careful assistant who answers questions about astronomy and physics. ";
        let first = p
            .select(&ws, Some(&format!("{system} What is a pulsar?")))
            .unwrap()
            .id
            .clone();
        for q in [
            "What is a quasar?",
            "How far is Mars?",
            "Why is the sky blue?",
        ] {
            let again = p.select(&ws, Some(&format!("{system} {q}"))).unwrap();
            assert_eq!(again.id, first);
        }
        // Unrelated prompts spread by load instead.
        let other = p
            .select(
                &ws,
                Some("Completely different text about cooking pasta at home tonight"),
            )
            .unwrap();
        assert_ne!(other.id, "");
    }

    #[test]
    fn cache_aware_falls_back_to_load_when_imbalanced() {
        let ws = vec![worker("a", 50), worker("b", 50)];
        let p = Policy::new(PolicyKind::CacheAware, CacheAwareConfig::default());
        let prompt = "x".repeat(200);
        let first = p.select(&ws, Some(&prompt)).unwrap();
        first.in_flight.store(100, Ordering::Relaxed);
        let next = p.select(&ws, Some(&prompt)).unwrap();
        assert_ne!(next.id, first.id);
    }

    #[test]
    fn prefix_index_is_bounded() {
        let mut index = PrefixIndex::new(10);
        for i in 0..100 {
            index.insert(&PrefixIndex::block_hashes(&format!("{i:0>64}")), "w");
        }
        assert!(index.entries.len() <= 10);
    }
}
