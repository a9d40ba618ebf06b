//! The few operating-system services the command needs, called through libc directly.
//!
//! Why not `std`: on the board build (i686 musl, `panic = "abort"`) the binary is
//! `no_std`, because std alone brings its panic machinery with a DWARF backtrace
//! symbolizer (gimli, addr2line, miniz_oxide: about 240 KiB) that a static binary cannot
//! shed on stable Rust. This module is the same code in both builds; only the entry point
//! and the panic handler in `main.rs` differ.
use crate::prelude::*;
use core::ffi::{c_char, c_int, c_void, CStr};

/// The last OS error as text, e.g. `No such file or directory (os error 2)`.
pub fn last_error() -> String {
    // SAFETY: `__errno_location` returns this thread's errno slot; `strerror` returns a
    // valid NUL-terminated string for any error number.
    let (code, text) = unsafe {
        let code = *libc::__errno_location();
        (code, CStr::from_ptr(libc::strerror(code)))
    };
    format!("{} (os error {code})", text.to_string_lossy())
}

fn interrupted() -> bool {
    // SAFETY: see `last_error`.
    unsafe { *libc::__errno_location() == libc::EINTR }
}

/// Reads a file descriptor to its end.
pub fn read_fd(fd: c_int) -> Result<Vec<u8>, String> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if buf.capacity() - buf.len() < 1 << 16 {
            buf.reserve(buf.len().max(1 << 16));
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: `spare` is writable memory of `spare.len()` bytes owned by `buf`.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast::<c_void>(), spare.len()) };
        if n < 0 {
            if interrupted() {
                continue;
            }
            return Err(last_error());
        }
        if n == 0 {
            return Ok(buf);
        }
        // SAFETY: the kernel initialised the first `n` spare bytes (n <= spare.len()).
        unsafe { buf.set_len(buf.len() + n as usize) };
    }
}

/// Reads a whole file; `-` is standard input.
pub fn read_file(path: &[u8]) -> Result<Vec<u8>, String> {
    if path == b"-" {
        return read_fd(0);
    }
    let mut c = Vec::with_capacity(path.len() + 1);
    c.extend_from_slice(path);
    if c.contains(&0) {
        return Err("the path contains a NUL byte".into());
    }
    c.push(0);
    // SAFETY: `c` is NUL-terminated.
    let fd = unsafe {
        libc::open(
            c.as_ptr().cast::<c_char>(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_error());
    }
    let r = read_fd(fd);
    // SAFETY: `fd` is ours and open.
    unsafe { libc::close(fd) };
    r
}

/// Writes all of `bytes` to a file descriptor (1 = stdout, 2 = stderr), unbuffered.
pub fn write_all(fd: c_int, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is readable memory of `bytes.len()` bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast::<c_void>(), bytes.len()) };
        if n < 0 {
            if interrupted() {
                continue;
            }
            return Err(last_error());
        }
        if n == 0 {
            return Err("the output accepts no more data".into());
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Standard error as a `fmt::Write`, for messages that must not allocate (panics).
#[cfg_attr(
    not(all(panic = "abort", target_env = "musl", not(feature = "bin-std"))),
    allow(dead_code)
)]
pub struct Stderr;

impl core::fmt::Write for Stderr {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_all(2, s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// A monotonic clock in nanoseconds (what `std::time::Instant` reads on Linux).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Writing to a closed pipe should be an error we report (exit code 1), not a silent
/// death by SIGPIPE; std does the same at start-up.
#[cfg_attr(
    not(all(panic = "abort", target_env = "musl", not(feature = "bin-std"))),
    allow(dead_code)
)]
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// The arguments after the program name, from C's `argv`.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings, as the C runtime passes them.
#[cfg_attr(
    not(all(panic = "abort", target_env = "musl", not(feature = "bin-std"))),
    allow(dead_code)
)]
pub unsafe fn args_from(argc: c_int, argv: *const *const c_char) -> Vec<Vec<u8>> {
    (1..argc.max(0) as usize)
        .filter_map(|i| {
            // SAFETY: the caller guarantees argv[0..argc] are valid C strings.
            let p = unsafe { *argv.add(i) };
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
        })
        .collect()
}

/// `malloc` only promises this alignment (musl on i686: 8, and 16 on x86-64).
const MALLOC_ALIGN: usize = 8;

/// The C allocator (musl's malloc on the board).
pub struct Malloc;

// SAFETY: forwards to malloc/posix_memalign/realloc/free with the alignment each needs.
unsafe impl core::alloc::GlobalAlloc for Malloc {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: plain malloc; a null result is passed on as failure.
            unsafe { libc::malloc(layout.size()).cast() }
        } else {
            let mut p: *mut c_void = core::ptr::null_mut();
            let align = layout.align().max(core::mem::size_of::<usize>());
            // SAFETY: `align` is a power of two and a multiple of the pointer size.
            if unsafe { libc::posix_memalign(&mut p, align, layout.size()) } != 0 {
                return core::ptr::null_mut();
            }
            p.cast()
        }
    }
    unsafe fn alloc_zeroed(&self, layout: core::alloc::Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: calloc zeroes; a null result is passed on as failure.
            unsafe { libc::calloc(1, layout.size()).cast() }
        } else {
            // SAFETY: same contract as `alloc`.
            let p = unsafe { self.alloc(layout) };
            if !p.is_null() {
                // SAFETY: `p` points to `layout.size()` writable bytes.
                unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: core::alloc::Layout, new: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: `ptr` came from malloc/calloc (alignment <= MALLOC_ALIGN).
            unsafe { libc::realloc(ptr.cast(), new).cast() }
        } else {
            // SAFETY: the new layout has the old (valid) alignment and a non-zero size.
            let q = unsafe {
                self.alloc(core::alloc::Layout::from_size_align_unchecked(
                    new,
                    layout.align(),
                ))
            };
            if !q.is_null() {
                // SAFETY: both blocks are valid for the smaller size and do not overlap.
                unsafe {
                    core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new));
                    libc::free(ptr.cast());
                }
            }
            q
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: core::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator.
        unsafe { libc::free(ptr.cast()) }
    }
}

/// A NUL-terminated copy of a path.
fn c_path(path: &[u8]) -> Result<Vec<u8>, String> {
    if path.contains(&0) {
        return Err("the path contains a NUL byte".into());
    }
    let mut c = Vec::with_capacity(path.len() + 1);
    c.extend_from_slice(path);
    c.push(0);
    Ok(c)
}

/// Makes the symlink `link` point to `target`: a fresh symlink `link.new`, then one
/// rename(2) over `link`, which replaces it atomically (a power cut leaves the old link
/// or the new one, never none). `link` must not be a directory.
pub fn point(link: &[u8], target: &[u8]) -> Result<(), String> {
    let mut fresh = link.to_vec();
    fresh.extend_from_slice(b".new");
    let (link, target, fresh) = (c_path(link)?, c_path(target)?, c_path(&fresh)?);
    // SAFETY: all three are NUL-terminated; a missing `fresh` is fine (ENOENT ignored).
    unsafe {
        libc::unlink(fresh.as_ptr().cast::<c_char>());
        if libc::symlink(
            target.as_ptr().cast::<c_char>(),
            fresh.as_ptr().cast::<c_char>(),
        ) != 0
        {
            return Err(last_error());
        }
        if libc::rename(
            fresh.as_ptr().cast::<c_char>(),
            link.as_ptr().cast::<c_char>(),
        ) != 0
        {
            let e = last_error();
            libc::unlink(fresh.as_ptr().cast::<c_char>());
            return Err(e);
        }
    }
    Ok(())
}
