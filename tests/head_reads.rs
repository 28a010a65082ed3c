//! Reads of head entries hand out the entries as stored, not copies: a read of the newest
//! entries allocates no entry (counted by the allocator, not timed), and an entry a reader holds
//! stays as it was read while a write changes it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use spacestore::{HeadUpdate, IterOptions, Space, StorageChange, TreeRoot};

/// Counts the allocations of the thread that asked ([`counted`]), whatever the other tests'
/// threads do meanwhile.
struct Counting;

thread_local! {
    /// `Some(n)`: this thread counts, `n` so far.
    static ALLOCATIONS: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping only touches a
// thread-local `Cell` with a constant initializer and no destructor (no allocation, no panic).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get().map(|n| n + 1)));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations `f` makes on this thread.
fn counted(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(Some(0)));
    f();
    ALLOCATIONS.with(|n| n.replace(None)).unwrap_or(0)
}

/// A space of `trees` trees, each with one batch that sets its heads.
fn space_of(trees: usize) -> Space {
    let space = Space::in_memory();
    for t in 0..trees {
        let id = format!("t{t}");
        let tree = space
            .create_tree_storage(TreeRoot::new(id.as_str(), b"root".to_vec()))
            .unwrap();
        let c = format!("c{t}");
        tree.add_all(
            vec![StorageChange::new(c.as_str(), "1", b"x".to_vec())],
            [c.as_str(), "other"],
            id.as_str(),
        )
        .unwrap();
    }
    space
}

#[test]
fn a_read_of_the_newest_entries_copies_none_of_them() {
    let space = space_of(300);
    let heads = space.head_storage();
    let newest = IterOptions::live().min_last_add_seq(200);
    let mut seen = 0;
    let allocations = counted(|| {
        for entry in heads.entries(newest) {
            seen += entry.heads.len();
        }
    });
    assert_eq!(seen, 200, "100 entries of two heads each");
    // Only the list of the selected entries, as it grows (a copy of each entry would be at
    // least 100 more: its heads).
    assert!(
        allocations < 20,
        "{allocations} allocations for 100 entries"
    );
}

#[test]
fn an_entry_a_reader_holds_stays_as_read_while_a_write_changes_it() {
    let space = space_of(1);
    let heads = space.head_storage();
    for entry in heads.entries(IterOptions::all()) {
        // A write while reading (no lock is held) changes the stored entry...
        heads
            .update_entry(HeadUpdate::new("t0").heads(["new"]))
            .unwrap();
        // ...not the one being read.
        assert_eq!(entry.heads, ["c0", "other"]);
    }
    assert_eq!(heads.get_entry("t0").unwrap().heads, ["new"]);
}
