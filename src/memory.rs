//! Giving memory back between cycles.
//!
//! A collection or analysis cycle allocates hundreds of MB for a large bill
//! (Polars buffers, Parquet pages) and frees them when it ends. glibc keeps
//! freed memory in its arenas for reuse, so a daemon that sleeps for an hour
//! between cycles would go on holding its peak. After each cycle the daemon
//! asks glibc to return what is free to the kernel; idle RSS then reflects
//! what is live (the metrics registry, the runtime), not the last peak.

/// Returns freed heap memory to the operating system (glibc only; a no-op
/// elsewhere).
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator;
    // it touches no live allocation and may be called at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
