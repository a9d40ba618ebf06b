//! A `#[global_allocator]` that counts every allocation, so `bench` can prove that
//! inference allocates nothing (a counting allocator is the simplest check that works in a
//! static musl binary, where valgrind cannot see malloc).
use crate::sys::Malloc;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

/// The C allocator, counting allocations (and reallocations) and their bytes.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `Malloc`; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { Malloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { Malloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { Malloc.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { Malloc.dealloc(ptr, layout) }
    }
}

/// Allocations and allocated bytes so far (reallocations count as one allocation each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub allocations: usize,
    pub bytes: usize,
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        allocations: ALLOCATIONS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

impl Snapshot {
    /// What happened between `self` (earlier) and `later`.
    pub fn since(self, later: Snapshot) -> Snapshot {
        Snapshot {
            allocations: later.allocations.wrapping_sub(self.allocations),
            bytes: later.bytes.wrapping_sub(self.bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_allocations() {
        let before = super::snapshot();
        let v: Vec<u8> = Vec::with_capacity(1000);
        core::hint::black_box(&v);
        let d = before.since(super::snapshot());
        // Other test threads may allocate too, so only a lower bound holds.
        assert!(d.allocations >= 1 && d.bytes >= 1000, "{d:?}");
    }
}
