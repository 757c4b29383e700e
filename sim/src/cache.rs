//! A bounded prefix cache keyed by block hashes, the way paged-attention engines (vLLM's
//! prefix caching, SGLang's radix cache) decide which prompt tokens they can skip.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

/// Tokens per cache block.
pub const BLOCK_SIZE: usize = 16;

/// Hash of each full block's whole prefix: block `i`'s hash covers tokens `0..16*(i+1)`, so
/// equal hashes mean equal prefixes (up to collisions) and a trailing partial block is
/// never cached.
pub(crate) fn block_hashes(tokens: &[u64]) -> Vec<u64> {
    let mut hashes = Vec::with_capacity(tokens.len() / BLOCK_SIZE);
    let mut parent = 0u64;
    for block in tokens.chunks_exact(BLOCK_SIZE) {
        // `DefaultHasher::new()` uses fixed keys, so hashes are stable within a process.
        let mut hasher = DefaultHasher::new();
        parent.hash(&mut hasher);
        block.hash(&mut hasher);
        parent = hasher.finish();
        hashes.push(parent);
    }
    hashes
}

/// Least-recently-used set of block hashes with a fixed capacity.
#[derive(Debug)]
pub(crate) struct PrefixCache {
    capacity: usize,
    clock: u64,
    /// Block hash -> last-use stamp.
    stamps: HashMap<u64, u64>,
    /// Last-use stamp -> block hash; the first entry is the eviction victim.
    order: BTreeMap<u64, u64>,
}

impl PrefixCache {
    /// A cache holding at most `capacity` blocks (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: 0,
            stamps: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// Blocks resident.
    pub(crate) fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Drop every block.
    pub(crate) fn clear(&mut self) {
        self.stamps.clear();
        self.order.clear();
    }

    /// Look the prompt up and insert its blocks; returns how many leading tokens were
    /// already cached (a multiple of [`BLOCK_SIZE`]).
    pub(crate) fn match_and_insert(&mut self, tokens: &[u64]) -> usize {
        let hashes = block_hashes(tokens);
        let hits = hashes.iter().take_while(|h| self.touch(**h)).count();
        for hash in &hashes[hits..] {
            self.insert(*hash);
        }
        hits * BLOCK_SIZE
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Mark `hash` as just used; false when it is not resident.
    fn touch(&mut self, hash: u64) -> bool {
        let stamp = self.tick();
        match self.stamps.get_mut(&hash) {
            Some(old) => {
                self.order.remove(old);
                *old = stamp;
                self.order.insert(stamp, hash);
                true
            }
            None => false,
        }
    }

    fn insert(&mut self, hash: u64) {
        if self.touch(hash) {
            return;
        }
        while self.stamps.len() >= self.capacity {
            match self.order.pop_first() {
                Some((_, victim)) => {
                    self.stamps.remove(&victim);
                }
                None => break,
            }
        }
        let stamp = self.tick();
        self.stamps.insert(hash, stamp);
        self.order.insert(stamp, hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(range: std::ops::Range<u64>) -> Vec<u64> {
        range.collect()
    }

    #[test]
    fn only_full_leading_blocks_hit() {
        let mut cache = PrefixCache::new(100);
        assert_eq!(cache.match_and_insert(&tokens(0..40)), 0);
        assert_eq!(
            cache.len(),
            2,
            "two full blocks, the partial one is not cached"
        );
        assert_eq!(cache.match_and_insert(&tokens(0..40)), 32);
        // Same first block, different second block: only the first hits.
        let mut other = tokens(0..40);
        other[20] = 999;
        assert_eq!(cache.match_and_insert(&other), 16);
        // A different first block hides later equal blocks (hashes cover the prefix).
        let mut shifted = tokens(0..40);
        shifted[0] = 999;
        assert_eq!(cache.match_and_insert(&shifted), 0);
    }

    #[test]
    fn capacity_is_bounded_and_lru() {
        let mut cache = PrefixCache::new(3);
        cache.match_and_insert(&tokens(0..16)); // A
        cache.match_and_insert(&tokens(100..116)); // B
        cache.match_and_insert(&tokens(200..216)); // C
        cache.match_and_insert(&tokens(0..16)); // touch A
        cache.match_and_insert(&tokens(300..316)); // D evicts B
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.match_and_insert(&tokens(0..16)), 16);
        assert_eq!(
            cache.match_and_insert(&tokens(100..116)),
            0,
            "B was evicted"
        );
        for i in 0..1000 {
            cache.match_and_insert(&tokens(i * 16..i * 16 + 64));
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.order.len(), 3);
        cache.clear();
        assert_eq!(cache.len(), 0);
    }
}
