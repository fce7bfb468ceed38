//! Where a stored body lives. Always a copy of its own, exactly its size: a chunk as it came
//! from the origin may be a slice of a much larger read buffer, which storing it would keep
//! alive unseen by the memory bound. Bodies from 32 KiB get pages of their own, returned to
//! the system when the body is evicted: from an allocator's shared pages, objects evicted
//! in LFU order leave pages part-used, and the process held about 1.7× the bound (measured:
//! 64 MiB of 100 KiB objects, 110–136 MiB RSS). Those pages are a memory file's (memfd), so
//! that a hit on a plain HTTP/1 connection is sent with `sendfile`, as nginx sends its
//! cache files, instead of being copied into the socket (41 % of the CPU of a 100 KiB hit).
use bytes::Bytes;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Bodies at least this large get pages of their own (at most 1/8 of it lost to rounding).
const OWN_PAGES_FROM: usize = 32 * 1024;
const PAGE: usize = 4096;

/// A stored body: its bytes and, for a large one, the memory file they are the pages of.
pub struct StoredBody {
    pub bytes: Bytes,
    pub file: Option<Arc<File>>,
}

/// One body from its `parts`, `size` bytes in all.
pub fn assemble<'a>(parts: impl IntoIterator<Item = &'a [u8]> + Clone, size: usize) -> StoredBody {
    if size >= OWN_PAGES_FROM {
        if let Some(body) = in_memory_file(parts.clone(), size) {
            return body;
        }
        if let Ok(mut map) = memmap2::MmapMut::map_anon(size) {
            let mut at = 0;
            for part in parts.clone() {
                map[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            if let Ok(map) = map.make_read_only() {
                return StoredBody { bytes: Bytes::from_owner(map), file: None };
            }
        }
    }
    let mut whole = Vec::with_capacity(size);
    parts.into_iter().for_each(|p| whole.extend_from_slice(p));
    StoredBody { bytes: Bytes::from(whole), file: None }
}

/// What a body of `len` bytes takes, pages rounded up.
pub fn footprint(len: usize) -> usize {
    match len >= OWN_PAGES_FROM {
        true => len.div_ceil(PAGE) * PAGE,
        false => len,
    }
}

/// Memory files open now: each holds a descriptor, and the process's descriptors are for
/// clients first; past a quarter of the limit, bodies get anonymous pages (no sendfile).
static FILES: AtomicUsize = AtomicUsize::new(0);

fn max_files() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        if ok {
            (limit.rlim_cur / 4) as usize
        } else {
            0
        }
    })
}

/// Counts a memory file while its pages are mapped.
struct Mapped {
    map: memmap2::Mmap,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        FILES.fetch_sub(1, Ordering::Relaxed);
    }
}

fn in_memory_file<'a>(parts: impl IntoIterator<Item = &'a [u8]>, size: usize) -> Option<StoredBody> {
    if FILES.fetch_add(1, Ordering::Relaxed) >= max_files() {
        FILES.fetch_sub(1, Ordering::Relaxed);
        return None;
    }
    let made = (|| -> io::Result<StoredBody> {
        // SAFETY: a valid C string; the descriptor returned, if any, is owned by nobody else.
        let fd = unsafe { libc::memfd_create(c"forecourt-cache".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor, given to the File alone.
        let mut file = unsafe { File::from_raw_fd(fd) };
        let mut written = 0;
        for part in parts {
            file.write_all(part)?;
            written += part.len();
        }
        if written != size {
            return Err(io::Error::other("body size changed"));
        }
        // SAFETY: the file is this process's own memory file and is never written again
        // (it is only read: through this map and by sendfile), so the map stays valid.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(StoredBody { bytes: Bytes::from_owner(Mapped { map }), file: Some(Arc::new(file)) })
    })();
    if made.is_err() {
        FILES.fetch_sub(1, Ordering::Relaxed);
    }
    made.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn bodies_are_whole_copies_of_their_parts() {
        for size in [0, 13, OWN_PAGES_FROM - 1, OWN_PAGES_FROM, 100 * 1024 + 7] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let parts: Vec<&[u8]> = data.chunks(1000).collect();
            let body = assemble(parts.iter().copied(), size);
            assert_eq!(&body.bytes[..], &data[..], "{size}");
            if let Some(file) = body.file {
                let mut back = vec![0; size];
                file.read_exact_at(&mut back, 0).unwrap();
                assert_eq!(back, data, "the memory file holds the same bytes");
            }
        }
        assert_eq!(footprint(OWN_PAGES_FROM + 1), OWN_PAGES_FROM + PAGE);
        assert_eq!(footprint(13), 13);
    }
}
