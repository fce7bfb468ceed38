//! Room for the uploads a policy is judging. A multipart upload is held whole (up to
//! `upload_limit`) while the rules read it, so that the fields after a file are judged;
//! `upload_memory` bounds what a policy's uploads hold together. An upload that finds no
//! room waits for some (`upload_wait`) with its body left unread (the client's own TCP
//! window holds it back, as the kernel's buffers do for nginx's spooled bodies) and, past
//! that, is not read whole: a flood of large uploads costs a bounded amount of memory,
//! never all of it.
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A policy's room, counted in KiB.
pub struct UploadRoom {
    kib: Arc<Semaphore>,
    total_kib: u32,
    /// How long an upload waits for room before it is judged as one too long for it.
    wait: Duration,
}

/// Room one upload holds until its request is done (its body sent on or dropped).
pub struct Held {
    _permit: OwnedSemaphorePermit,
}

impl UploadRoom {
    pub fn new(bytes: u64, wait: Duration) -> UploadRoom {
        let total_kib = kib(bytes).max(1);
        UploadRoom { kib: Arc::new(Semaphore::new(total_kib as usize)), total_kib, wait }
    }

    /// Room for `bytes` now, if there is that much free. An upload larger than the whole
    /// room asks for all of it: it goes alone.
    pub fn try_hold(&self, bytes: u64) -> Option<Held> {
        let permit = self.kib.clone().try_acquire_many_owned(self.share(bytes)).ok()?;
        Some(Held { _permit: permit })
    }

    /// Room for `bytes`, waiting for it as long as the room says (first come, first served).
    pub async fn hold(&self, bytes: u64) -> Option<Held> {
        let asked = self.kib.clone().acquire_many_owned(self.share(bytes));
        let permit = tokio::time::timeout(self.wait, asked).await.ok()?.ok()?;
        Some(Held { _permit: permit })
    }

    /// How long an upload waits for room.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The room's size in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.total_kib) * 1024
    }

    /// The bytes free now.
    #[cfg(test)]
    fn free(&self) -> u64 {
        self.kib.available_permits() as u64 * 1024
    }

    fn share(&self, bytes: u64) -> u32 {
        kib(bytes).clamp(1, self.total_kib)
    }
}

fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn uploads_hold_room_until_done_and_the_next_waits_for_it() {
        let room = UploadRoom::new(3 << 20, Duration::from_millis(20));
        let first = room.try_hold(2 << 20).expect("room for the first");
        assert_eq!(room.free(), 1 << 20);
        assert!(room.try_hold(2 << 20).is_none(), "no room for a second now");
        assert!(room.hold(2 << 20).await.is_none(), "nor after a short wait");
        let small = room.try_hold(1000).expect("a small one fits beside");
        assert_eq!(room.free(), (1 << 20) - 1024, "counted in whole KiB");
        drop(small);
        // The same room, with a patient wait: the first still holds its share.
        let room = UploadRoom { wait: Duration::from_secs(5), ..room };
        let waiting = room.hold(2 << 20);
        let finishing = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(first);
        };
        let (second, ()) = tokio::join!(waiting, finishing);
        assert!(second.is_some(), "room came when the first was done");
        drop(second);
        assert_eq!(room.free(), 3 << 20, "all given back");
    }

    #[tokio::test]
    async fn an_upload_larger_than_the_room_goes_alone() {
        let room = UploadRoom::new(1 << 20, Duration::ZERO);
        let big = room.try_hold(10 << 20).expect("the whole room");
        assert_eq!(room.free(), 0);
        assert!(room.try_hold(1).is_none());
        drop(big);
        assert!(room.try_hold(1).is_some());
    }
}
