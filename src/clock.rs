//! [`Clock`]: where a space reads the time it stamps on what it stores (`added`, in Unix
//! seconds): the system's by default ([`SystemClock`]), or a test's own ([`FixedClock`],
//! [`ManualClock`]) through [`crate::Options::clock`], so that two runs of a test store the same
//! bytes whenever they run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The time a space stamps on each batch and tree it stores (`StorageChange::added`), in Unix
/// seconds. Read once per write, under no lock of the space's.
///
/// ```
/// use std::sync::Arc;
/// use spacestore::{FixedClock, Options, Space, StorageChange, TreeRoot};
/// let space = Space::in_memory_with(Options::default().clock(Arc::new(FixedClock(1_700_000_000))));
/// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
/// assert_eq!(tree.get("c1")?.added, 1_700_000_000);
/// assert_eq!(tree.root().added, 1_700_000_000);
/// # Ok::<(), spacestore::Error>(())
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix seconds.
    fn now(&self) -> u64;
}

/// The system's clock (`SystemTime::now`); 0 for a clock set before 1970.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that always says the same time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

/// A clock a test moves by hand; clones share the time.
///
/// ```
/// use std::sync::Arc;
/// use spacestore::{Clock, ManualClock};
/// let clock = ManualClock::at(100);
/// let shared = clock.clone();
/// shared.advance(5);
/// assert_eq!(clock.now(), 105);
/// clock.set(7);
/// assert_eq!(shared.now(), 7);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock at `secs` (Unix seconds).
    pub fn at(secs: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(secs)))
    }

    /// Sets the time (it may go back: a clock of a test's, not a monotonic one).
    pub fn set(&self, secs: u64) {
        self.0.store(secs, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs` (saturating).
    pub fn advance(&self, secs: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
