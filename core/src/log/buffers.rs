//! Reusing the big buffers logs are read into.

use bytes::Bytes;

/// Buffers handed out earlier, reused once every batch made from them is dropped: a fresh
/// buffer per batch or segment costs the kernel zeroing every page of it (a tenth of a replay's
/// CPU time when whole segments were read into fresh buffers).
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    out: Vec<Bytes>,
}

impl BufferPool {
    /// Most buffers kept: as many as a reader can have in use at once — the batches queued for
    /// the consumer, the one being applied, the one being read — and a few to spare.
    const KEEP: usize = 8;

    /// An empty buffer with room for at least `capacity` bytes: a reclaimed one when one is
    /// free and large enough, else a new one.
    pub(crate) fn take(&mut self, capacity: usize) -> Vec<u8> {
        let free = self.out.iter().position(Bytes::is_unique);
        if let Some(mut free) = free.and_then(|i| self.out.swap_remove(i).try_into_mut().ok())
            && free.capacity() >= capacity
        {
            free.clear();
            return Vec::from(free);
        }
        // Not a reclaimed buffer grown by `reserve`: that would copy its stale bytes first.
        Vec::with_capacity(capacity)
    }

    /// Freezes `buf` for batches, keeping a handle to reclaim it later.
    pub(crate) fn freeze(&mut self, buf: Vec<u8>) -> Bytes {
        let bytes = Bytes::from(buf);
        if self.out.len() >= Self::KEEP {
            self.out.remove(0);
        }
        self.out.push(bytes.clone());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_once_free() {
        let mut pool = BufferPool::default();
        let mut first = pool.take(1000);
        first.extend_from_slice(b"first");
        let first = pool.freeze(first);
        let at = first.as_ptr();
        let held = pool.take(1000);
        assert_ne!(held.as_ptr(), at, "a buffer still in use is not reused");
        drop(first);
        let again = pool.take(1000);
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
        assert!(again.capacity() >= 1000);
        let bigger = pool.take(1_000_000);
        assert!(bigger.capacity() >= 1_000_000);
    }
}
