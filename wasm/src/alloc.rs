//! The global allocator in wasm: Rust's usual dlmalloc, asking the host for memory in large
//! steps instead of one 64 KiB page at a time.
//!
//! Why: every `memory.grow` hands JavaScript a new `ArrayBuffer`, and V8 counts the whole
//! memory as newly allocated external memory each time. Past 64 MiB that requests a full
//! garbage collection on nearly every grow (measured: a memory store holding 64 KiB snapshots
//! went from 3.5 ms to 17 ms per save once its memory passed 63 MiB, one mark-compact per
//! save). Growing by an eighth of the current memory (at least 1 MiB, at most 16 MiB, and never
//! less than asked) makes grows, and so those collections, rare; the unused tail stays
//! available to the allocator, so at most that step is held beyond what is in use.
//!
//! The only `unsafe` of the project: the `GlobalAlloc` and dlmalloc `Allocator` contracts
//! cannot be implemented without it. wasm32-unknown-unknown is single-threaded (no atomics),
//! so the allocator state needs no lock.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;

const PAGE: usize = 64 * 1024;
const MIN_STEP: usize = 1 << 20;
const MAX_STEP: usize = 16 << 20;

/// Memory from `memory.grow`, in steps of an eighth of the current memory.
struct SteppedGrow;

impl SteppedGrow {
    /// Grows by `bytes` (whole pages); the start and length of the new region.
    fn grow(bytes: usize) -> Option<(usize, usize)> {
        let pages = bytes.div_ceil(PAGE);
        let previous = wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return None;
        }
        Some((previous.checked_mul(PAGE)?, pages.checked_mul(PAGE)?))
    }
}

// SAFETY: regions come from `memory.grow`, are never handed out twice and never released
// (wasm memory cannot shrink), as the trait requires of a grow-only system allocator.
unsafe impl dlmalloc::Allocator for SteppedGrow {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let current = wasm32::memory_size(0).saturating_mul(PAGE);
        let step = (current / 8).clamp(MIN_STEP, MAX_STEP).max(size);
        // If the bigger step does not fit (a maximum or the 4 GiB limit), ask for `size` alone.
        match Self::grow(step).or_else(|| Self::grow(size)) {
            // A region ending exactly at the top of the address space would make a pointer wrap
            // to 0; keep its last bytes out, as dlmalloc's own wasm allocator does.
            Some((base, len)) if base.wrapping_add(len) == 0 => {
                (base as *mut u8, len.saturating_sub(16), 0)
            }
            Some((base, len)) => (base as *mut u8, len, 0),
            None => (ptr::null_mut(), 0, 0),
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

struct Global(UnsafeCell<dlmalloc::Dlmalloc<SteppedGrow>>);

// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
unsafe impl Sync for Global {}

#[global_allocator]
static ALLOCATOR: Global = Global(UnsafeCell::new(dlmalloc::Dlmalloc::new_with_allocator(
    SteppedGrow,
)));

// SAFETY: each method forwards to dlmalloc with the layout it was given; there is one thread,
// so no two calls ever hold the state at once.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).malloc(layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).calloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.0.get()).free(ptr, layout.size(), layout.align());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}

#[cfg(target_feature = "atomics")]
compile_error!("the allocator in wasm/src/alloc.rs assumes one thread (no atomics)");
