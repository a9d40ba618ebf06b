//! Process-wide allocator settings for training's allocation pattern.

/// Makes glibc's malloc keep freed memory for reuse instead of returning it to the
/// system. A training step allocates and frees hundreds of tensors of 0.1-10 MB; with the
/// defaults each one is a fresh `mmap` (or a trimmed heap) that page-faults back in, which
/// measured 35-40 % of a LeNet-5 step. Process-wide; other allocators are left alone.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
