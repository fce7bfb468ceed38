//! Where a stored body lives. Always a copy of its own, exactly its size: a chunk as it came
//! from the origin may be a slice of a much larger read buffer, which storing it would keep
//! alive unseen by the memory bound. Bodies from 32 KiB up get pages of their own (an
//! anonymous map, returned to the system when the body is evicted): from an allocator's
//! shared pages, objects evicted in LFU order leave pages part-used, and the process held
//! about 1.7× the bound (measured: 64 MiB of 100 KiB objects, 110–136 MiB RSS).
use bytes::Bytes;

/// Bodies at least this large get pages of their own (at most 1/8 of it lost to rounding).
const OWN_PAGES_FROM: usize = 32 * 1024;
const PAGE: usize = 4096;

/// One body from its `parts`, `size` bytes in all.
pub fn assemble<'a>(parts: impl IntoIterator<Item = &'a [u8]>, size: usize) -> Bytes {
    if size >= OWN_PAGES_FROM {
        if let Ok(mut map) = memmap2::MmapMut::map_anon(size) {
            let mut at = 0;
            for part in parts {
                map[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            if let Ok(map) = map.make_read_only() {
                return Bytes::from_owner(map);
            }
            return Bytes::new();
        }
    }
    let mut whole = Vec::with_capacity(size);
    parts.into_iter().for_each(|p| whole.extend_from_slice(p));
    Bytes::from(whole)
}

/// What a body of `len` bytes takes, pages rounded up.
pub fn footprint(len: usize) -> usize {
    match len >= OWN_PAGES_FROM {
        true => len.div_ceil(PAGE) * PAGE,
        false => len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_whole_copies_of_their_parts() {
        for size in [0, 13, OWN_PAGES_FROM - 1, OWN_PAGES_FROM, 100 * 1024 + 7] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let parts: Vec<&[u8]> = data.chunks(1000).collect();
            assert_eq!(&assemble(parts, size)[..], &data[..], "{size}");
        }
        assert_eq!(footprint(OWN_PAGES_FROM + 1), OWN_PAGES_FROM + PAGE);
        assert_eq!(footprint(13), 13);
    }
}
