//! Exact streaming top-k: a bounded, sorted array of the k best (value, index) pairs.
//!
//! Order: larger value first; equal values by lower index (so the result is deterministic and
//! −0.0 and +0.0 tie, as they compare equal). Entries arrive in index order, so a late entry
//! equal to the current k-th best never displaces it.

/// One entry of a row: its logit and its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The logit.
    pub value: f32,
    /// Its column in the row.
    pub index: usize,
}

impl Candidate {
    /// Whether `self` ranks before `other`: larger value, or equal value and lower index.
    pub fn beats(&self, other: &Candidate) -> bool {
        self.value > other.value || (self.value == other.value && self.index < other.index)
    }
}

/// The k best candidates offered so far, best first; O(k) memory whatever the row length.
#[derive(Debug, Clone)]
pub struct TopKBuffer {
    k: usize,
    best_first: Vec<Candidate>,
}

impl TopKBuffer {
    /// An empty buffer that keeps at most `k` candidates.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            best_first: Vec::with_capacity(k + 1),
        }
    }

    /// Offers one candidate. Most offers end at one comparison with the current k-th best;
    /// an accepted one is inserted at its rank (binary search) and the k+1-th dropped.
    pub fn offer(&mut self, candidate: Candidate) {
        if self.best_first.len() == self.k {
            match self.best_first.last() {
                Some(kth) if candidate.beats(kth) => {}
                _ => return,
            }
        }
        let rank = self
            .best_first
            .partition_point(|kept| kept.beats(&candidate));
        self.best_first.insert(rank, candidate);
        self.best_first.truncate(self.k);
    }

    /// The kept candidates, best first.
    pub fn best_first(&self) -> &[Candidate] {
        &self.best_first
    }
}
