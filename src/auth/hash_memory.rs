//! argon2's working memory (19 MiB at the default parameters), mapped straight from the kernel
//! so that giving it back really gives it back.
//!
//! Left to argon2 (`hash_password_into`), every hash allocates its blocks from the heap and
//! frees them. With glibc that memory stays resident: the first 19 MiB allocation is mmapped,
//! its free raises the dynamic mmap threshold to 19 MiB, and from then on each hash is carved
//! from the hashing thread's arena; the blocks are 64-byte aligned, so each request is a little
//! larger than the chunk the last one freed, the arena grows instead, and nothing is trimmed.
//! A fresh snak grew by 19.5 MiB for each of its first six password checks (to 126 MiB).
//!
//! Here one hashing thread owns one mapping: reused from one hash to the next while jobs are
//! waiting (a burst pays its page faults once), unmapped by [`HashMemory::release`] when the
//! queue runs dry, and on drop. Fresh anonymous pages are zero, and argon2 writes every block
//! in its first pass before it reads it, so a reused mapping needs no clearing.

use std::ptr::NonNull;

use argon2::Block;

/// One mapping of argon2 blocks, or none.
pub struct HashMemory {
    map: Option<(NonNull<Block>, usize)>,
}

// The mapping belongs to this value alone; nothing else holds its address.
unsafe impl Send for HashMemory {}

impl HashMemory {
    pub const fn new() -> Self {
        HashMemory { map: None }
    }

    /// `count` blocks to hash in, mapping (or growing to) that many if need be; `None` if the
    /// kernel refuses the memory.
    pub fn blocks(&mut self, count: usize) -> Option<&mut [Block]> {
        if count == 0 {
            return None;
        }
        if self.map.is_some_and(|(_, len)| len < count) {
            self.release();
        }
        let (ptr, _) = match self.map {
            Some(map) => map,
            None => {
                let map = (map_blocks(count)?, count);
                self.map = Some(map);
                map
            }
        };
        // SAFETY: the mapping holds at least `count` blocks, page-aligned (more than a Block's
        // 64 bytes), readable and writable, and `&mut self` makes this the only reference.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), count) })
    }

    /// Bytes mapped now (0 between bursts).
    pub fn held_bytes(&self) -> usize {
        self.map
            .map_or(0, |(_, len)| len * std::mem::size_of::<Block>())
    }

    /// Gives the memory back to the kernel.
    pub fn release(&mut self) {
        if let Some((ptr, len)) = self.map.take() {
            // SAFETY: exactly the region `map_blocks` mapped; no reference to it outlives
            // `blocks`' borrow of self.
            unsafe {
                libc::munmap(ptr.as_ptr().cast(), len * std::mem::size_of::<Block>());
            }
        }
    }
}

impl Default for HashMemory {
    fn default() -> Self {
        HashMemory::new()
    }
}

impl Drop for HashMemory {
    fn drop(&mut self) {
        self.release();
    }
}

fn map_blocks(count: usize) -> Option<NonNull<Block>> {
    let bytes = count.checked_mul(std::mem::size_of::<Block>())?;
    // SAFETY: a new private anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(p.cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_grows_reuses_and_releases() {
        let mut m = HashMemory::new();
        assert_eq!(m.held_bytes(), 0);
        assert!(m.blocks(0).is_none());
        let first = m.blocks(8).expect("8 blocks").as_ptr();
        assert_eq!(m.held_bytes(), 8 * 1024);
        // Smaller requests reuse the mapping; larger ones replace it.
        assert_eq!(m.blocks(4).expect("4 blocks").as_ptr(), first);
        assert_eq!(m.held_bytes(), 8 * 1024);
        assert_eq!(m.blocks(16).expect("16 blocks").len(), 16);
        assert_eq!(m.held_bytes(), 16 * 1024);
        m.release();
        assert_eq!(m.held_bytes(), 0);
        assert!(
            m.blocks(usize::MAX).is_none(),
            "an impossible size is refused"
        );
    }
}
