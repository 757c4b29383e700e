//! Bounded time series: a ring buffer of samples with explicit gaps.

use std::collections::VecDeque;

/// Samples kept per series by default (10 minutes at the default 2 s interval).
pub const DEFAULT_CAPACITY: usize = 300;

/// A fixed-capacity ring buffer of samples. A gap (no data for that tick, e.g. no worker
/// reported a load) is stored as `NaN` and drawn as an empty column, never as zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    samples: VecDeque<f32>,
    capacity: usize,
}

impl Default for Series {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Series {
    /// An empty series keeping at most `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Append a sample (`None` is a gap), dropping the oldest one when full.
    pub fn push(&mut self, value: Option<f64>) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        let v = match value {
            Some(v) if v.is_finite() => v as f32,
            _ => f32::NAN,
        };
        self.samples.push_back(v);
    }

    /// Number of samples (gaps included).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Maximum number of samples kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The newest sample, if it is not a gap.
    pub fn last(&self) -> Option<f64> {
        self.samples
            .back()
            .copied()
            .filter(|v| !v.is_nan())
            .map(f64::from)
    }

    /// Samples oldest first; gaps are `None`.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Option<f64>> + ExactSizeIterator + '_ {
        self.samples
            .iter()
            .map(|v| (!v.is_nan()).then_some(f64::from(*v)))
    }

    /// Smallest and largest non-gap samples.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        self.iter().flatten().fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// The newest `width` samples scaled by `scale` for a sparkline, right-aligned: padded on
    /// the left with gaps so that the newest sample is always in the rightmost column.
    pub fn sparkline_data(&self, width: usize, scale: f64) -> Vec<Option<u64>> {
        let take = self.samples.len().min(width);
        let mut out = Vec::with_capacity(width);
        out.resize(width - take, None);
        out.extend(
            self.iter()
                .skip(self.samples.len() - take)
                .map(|v| v.map(|v| (v.max(0.0) * scale).round() as u64)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_keeps_newest() {
        let mut s = Series::new(300);
        for i in 0..1000 {
            s.push(Some(f64::from(i)));
        }
        assert_eq!(s.len(), 300);
        assert_eq!(s.capacity(), 300);
        assert_eq!(s.last(), Some(999.0));
        assert_eq!(s.iter().next(), Some(Some(700.0)));
    }

    #[test]
    fn gaps_are_not_zero() {
        let mut s = Series::new(4);
        s.push(Some(2.0));
        s.push(None);
        s.push(Some(f64::NAN));
        assert_eq!(s.last(), None);
        assert_eq!(s.min_max(), Some((2.0, 2.0)));
        assert_eq!(
            s.sparkline_data(5, 10.0),
            vec![None, None, Some(20), None, None]
        );
    }

    #[test]
    fn sparkline_takes_newest() {
        let mut s = Series::new(10);
        for i in 1..=6 {
            s.push(Some(f64::from(i)));
        }
        assert_eq!(s.sparkline_data(3, 1.0), vec![Some(4), Some(5), Some(6)]);
    }
}
