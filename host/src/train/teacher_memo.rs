//! The teacher's answers, remembered by input: distillation asks a fixed teacher about the
//! same inputs again every epoch.
//!
//! Why: fine-tuning a cut LeNet-5 spent 7 of its 16 s per epoch in the original's forward
//! pass (the cut network's own step took 9 s), and the papers' fixed recipe runs 60
//! epochs. MNIST's one-pixel shifts give every image 9 forms, so after a few epochs
//! almost every batch is already known. An input that never repeats (continuous
//! augmentation, mixup blends) only costs its hash and the copy of its row, and the memo
//! stops growing at [`TeacherMemo::CAPACITY`] inputs.
use std::collections::HashMap;
use std::sync::Mutex;

/// Input row (by the bits of its values) -> the teacher's log-probabilities.
#[derive(Debug, Default)]
pub struct TeacherMemo {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Key -> the row's offset in `values`.
    index: HashMap<u64, usize>,
    values: Vec<f32>,
    /// Values per row (0 until the first insert).
    classes: usize,
}

/// What [`TeacherMemo::lookup`] knew.
#[derive(Debug)]
pub struct Found {
    pub classes: usize,
    pub values: Vec<f32>,
    pub missing: Vec<usize>,
}

impl TeacherMemo {
    /// At most this many remembered inputs (MNIST's 55,000 images x 9 shifts fit).
    pub const CAPACITY: usize = 1 << 20;

    /// The key of one input row: a 64-bit mix of its values' bits (two different rows
    /// share one with probability about n^2 / 2^65, under 1e-8 for a million rows).
    pub fn key(row: &[f32]) -> u64 {
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ row.len() as u64;
        for v in row {
            h = (h ^ v.to_bits() as u64).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
            h ^= h >> 32;
        }
        h ^= h >> 29;
        h.wrapping_mul(0xC4CE_B9FE_1A85_EC53) ^ (h >> 32)
    }

    /// The remembered answers to `keys`: `values` holds `classes` per key (zeros where
    /// unknown), `missing` the positions it does not know. `classes` is 0 while the memo
    /// is empty.
    pub fn lookup(&self, keys: &[u64]) -> Found {
        let Ok(inner) = self.inner.lock() else {
            return Found {
                classes: 0,
                values: Vec::new(),
                missing: (0..keys.len()).collect(),
            };
        };
        let classes = inner.classes;
        let mut values = vec![0f32; keys.len() * classes];
        let mut missing = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match inner.index.get(k) {
                Some(&at) if classes > 0 => values[i * classes..(i + 1) * classes]
                    .copy_from_slice(&inner.values[at..at + classes]),
                _ => missing.push(i),
            }
        }
        Found {
            classes,
            values,
            missing,
        }
    }

    /// Remembers `values` (`classes` per key), while there is room.
    pub fn insert(&self, keys: &[u64], classes: usize, values: &[f32]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.classes == 0 {
            inner.classes = classes;
        }
        if classes == 0 || inner.classes != classes {
            return;
        }
        for (k, v) in keys.iter().zip(values.chunks(classes)) {
            if inner.index.len() >= Self::CAPACITY {
                return;
            }
            let at = inner.values.len();
            if let std::collections::hash_map::Entry::Vacant(e) = inner.index.entry(*k) {
                e.insert(at);
                inner.values.extend_from_slice(v);
            }
        }
    }

    /// How many inputs it remembers.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.index.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_content_once() {
        let memo = TeacherMemo::default();
        let a = [0.0f32, 1.0, 2.0];
        let b = [0.0f32, 1.0, 2.5];
        let (ka, kb) = (TeacherMemo::key(&a), TeacherMemo::key(&b));
        assert_ne!(ka, kb, "one value apart: different keys");
        assert_eq!(
            ka,
            TeacherMemo::key(&[0.0, 1.0, 2.0]),
            "same content, same key"
        );
        assert_eq!(memo.lookup(&[ka, kb]).missing, vec![0, 1]);
        memo.insert(&[kb], 2, &[-0.5, -1.5]);
        let found = memo.lookup(&[ka, kb]);
        assert_eq!(found.missing, vec![0]);
        assert_eq!(
            (found.classes, &found.values[2..]),
            (2, &[-0.5f32, -1.5][..])
        );
        // A key is remembered once: a second insert does not overwrite it.
        memo.insert(&[kb], 2, &[9.0, 9.0]);
        assert_eq!(&memo.lookup(&[kb]).values, &[-0.5, -1.5]);
        assert_eq!(memo.len(), 1);
    }
}
