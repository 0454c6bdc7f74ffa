//! Giving memory back between cycles.
//!
//! A collection or analysis cycle allocates hundreds of MB for a large bill
//! (Polars buffers, Parquet pages) and frees them when it ends. glibc keeps
//! freed memory in its arenas for reuse, so a daemon that sleeps for an hour
//! between cycles would go on holding its peak. After each cycle the daemon
//! asks glibc to return what is free to the kernel; idle RSS then reflects
//! what is live (the metrics registry, the runtime), not the last peak.
//!
//! A cycle also runs through tens of MB of the binary's own code (Polars,
//! Parquet, the SDKs), which then stays resident while the daemon idles:
//! clean pages of the executable, which the kernel would drop first under
//! pressure anyway. The daemon asks it to do so now (`MADV_PAGEOUT`, Linux
//! 5.4 and later): the few pages the idle loop and a scrape need come back
//! from the page cache, and the next cycle reads the rest back in.

/// Returns freed heap memory and the code pages of the last cycle to the
/// operating system (glibc and Linux; a no-op elsewhere).
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator;
    // it touches no live allocation and may be called at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(target_os = "linux")]
    page_out_code();
}

/// `MADV_PAGEOUT` over the executable's `r-xp` mappings (from
/// `/proc/self/maps`). Failures (an older kernel answers `EINVAL`) leave
/// the pages where they are, which is harmless.
#[cfg(target_os = "linux")]
fn page_out_code() {
    let (Ok(exe), Ok(maps)) = (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_to_string("/proc/self/maps"),
    ) else {
        return;
    };
    for line in maps.lines() {
        // `start-end perms offset dev inode path`
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [range, perms, _, _, _, path] = fields[..] else {
            continue;
        };
        if perms != "r-xp" || std::path::Path::new(path) != exe {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: the range is a whole read-only, executable, file-backed
        // mapping of this process; paging it out changes no byte of it, only
        // whether it is resident (a later access faults it back in).
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                end.saturating_sub(start),
                libc::MADV_PAGEOUT,
            );
        }
    }
}
