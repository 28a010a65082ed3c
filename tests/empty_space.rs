//! What a test double costs, counted (not timed): the bytes an empty in-memory space allocates
//! and keeps, so that a test suite can keep thousands alive (`cargo bench -p spacestore --bench
//! empty_spaces` prints the time and the resident heap).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use spacestore::Space;

/// Counts the bytes held (allocated and not freed) by this test binary.
struct Counting;

static HELD: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping only touches an atomic
// (no allocation, no panic).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            HELD.fetch_add(layout.size() as i64, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size() as i64, Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn an_empty_in_memory_space_holds_less_than_4_kib() {
    // Warm up what the first space sets up once per process (seeds, thread-locals).
    drop(Space::in_memory());
    let before = HELD.load(Ordering::SeqCst);
    let spaces: Vec<Space> = (0..1000).map(|_| Space::in_memory()).collect();
    let each = (HELD.load(Ordering::SeqCst) - before) / 1000;
    assert!(each < 4096, "an empty in-memory space holds {each} bytes");
    drop(spaces);
}
