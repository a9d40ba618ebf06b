//! Planning: every activation's lifetime is known before the first inference, so all of
//! them (and every layer's scratch) get fixed offsets in one arena, computed once. Buffers
//! whose lifetimes do not overlap share memory (greedy by size, as TFLite Micro does).
//! Flatten and Reshape cost nothing: they are views of their input's buffer.
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

/// Offsets are multiples of four floats, so every buffer starts 16-byte aligned relative
/// to the arena.
const ALIGN: usize = 4;

/// A block of the arena that lives from step `first` to step `last` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub size: usize,
    pub first: usize,
    pub last: usize,
}

/// Places each block so that blocks alive at the same time never overlap; returns each
/// block's range in floats and the arena length. `None` if the arena would not fit `usize`.
pub fn place(blocks: &[Lifetime]) -> Option<(Vec<Range<usize>>, usize)> {
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by(|&a, &b| blocks[b].size.cmp(&blocks[a].size).then(a.cmp(&b)));
    let mut placed: Vec<Option<Range<usize>>> = vec![None; blocks.len()];
    let mut total = 0usize;
    for &i in &order {
        let me = blocks[i];
        let mut busy: Vec<Range<usize>> = order
            .iter()
            .filter_map(|&j| placed[j].clone().filter(|_| overlaps(&me, &blocks[j])))
            .collect();
        busy.sort_by_key(|r| r.start);
        let mut offset = 0usize;
        for r in &busy {
            if offset.checked_add(me.size)? <= r.start {
                break;
            }
            offset = offset.max(r.end.checked_next_multiple_of(ALIGN)?);
        }
        let end = offset.checked_add(me.size)?;
        total = total.max(end);
        placed[i] = Some(offset..end);
    }
    Some((
        placed.into_iter().map(|r| r.unwrap_or(0..0)).collect(),
        total,
    ))
}

fn overlaps(a: &Lifetime, b: &Lifetime) -> bool {
    a.size > 0 && b.size > 0 && a.first <= b.last && b.first <= a.last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_memory_of_dead_buffers_and_never_overlaps_live_ones() {
        // A chain a -> b -> c -> d: a and c can share, b and d can share.
        let blocks = [
            Lifetime {
                size: 10,
                first: 0,
                last: 1,
            },
            Lifetime {
                size: 10,
                first: 1,
                last: 2,
            },
            Lifetime {
                size: 10,
                first: 2,
                last: 3,
            },
            Lifetime {
                size: 10,
                first: 3,
                last: 4,
            },
        ];
        let (r, total) = place(&blocks).unwrap();
        assert!(
            total <= 24,
            "two 10-float buffers (aligned) suffice, got {total}"
        );
        for i in 0..4 {
            for j in 0..4 {
                if i != j && overlaps(&blocks[i], &blocks[j]) {
                    assert!(
                        r[i].end <= r[j].start || r[j].end <= r[i].start,
                        "{i} and {j} overlap"
                    );
                }
            }
        }
    }
}
