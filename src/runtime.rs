//! The clock and the id generator, behind small traits so tests (and hosts like wasm) can
//! supply their own.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crate::timestamp::Timestamp;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// Where new ids come from.
pub trait IdGenerator: Send + Sync {
    /// A new id: `prefix` followed by a ULID for the instant `now`.
    fn new_id(&self, prefix: &str, now: Timestamp) -> String;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A ULID from the instant and 80 random bits, from a source of random bytes.
pub fn ulid_from(now: Timestamp, random: [u8; 10]) -> String {
    prefixed_ulid("", now, random)
}

/// `prefix` and then [`ulid_from`]'s ULID: an id as the generators write it, without
/// `core::fmt` (the crate's `to_string` needs its `std` feature; `Display` formats a char at a
/// time).
pub fn prefixed_ulid(prefix: &str, now: Timestamp, random: [u8; 10]) -> String {
    let ms = u64::try_from(now.as_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    for (dst, src) in bytes.iter_mut().zip(random.iter()) {
        *dst = *src;
    }
    let rand = u128::from_le_bytes(bytes);
    let mut buf = [0u8; ulid::ULID_LEN];
    let mut out = String::with_capacity(prefix.len().saturating_add(ulid::ULID_LEN));
    out.push_str(prefix);
    out.push_str(ulid::Ulid::from_parts(ms, rand).array_to_str(&mut buf));
    out
}

/// ULIDs from the operating system's random numbers (native targets only; the wasm bindings
/// bring their own generator using `crypto.getRandomValues`).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

#[cfg(not(target_arch = "wasm32"))]
impl IdGenerator for RandomIds {
    fn new_id(&self, prefix: &str, now: Timestamp) -> String {
        let mut random = [0u8; 10];
        if getrandom::fill(&mut random).is_err() {
            // No OS randomness: fall back to the clock's sub-millisecond bits and a counter,
            // still unique within this process.
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            random[..8].copy_from_slice(&n.to_le_bytes());
            random[8..].copy_from_slice(&now.as_micros().to_le_bytes()[..2]);
        }
        prefixed_ulid(prefix, now, random)
    }
}

/// A clock that only moves when told to, for deterministic tests.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock {
            micros: AtomicI64::new(at.as_micros()),
        })
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.micros.store(at.as_micros(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `micros`.
    pub fn advance(&self, micros: i64) {
        let now = self.micros.load(Ordering::SeqCst);
        self.micros
            .store(now.saturating_add(micros), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.micros.load(Ordering::SeqCst)).unwrap_or(Timestamp::MIN)
    }
}

/// Ids `prefix + "000001"`, `prefix + "000002"`, ... for deterministic tests.
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: AtomicU64,
}

impl SequentialIds {
    /// Starts at 1.
    pub fn new() -> Arc<Self> {
        Arc::new(SequentialIds::default())
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self, prefix: &str, _now: Timestamp) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst).saturating_add(1);
        format!("{prefix}{n:06}")
    }
}

/// The clock and id generator a store uses.
#[derive(Clone)]
pub struct Runtime {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The id generator.
    pub ids: Arc<dyn IdGenerator>,
}

impl Runtime {
    /// A runtime from a clock and an id generator.
    pub fn new(clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Runtime { clock, ids }
    }

    /// A new id with `prefix`, e.g. `"snap_01J..."`.
    pub fn new_id(&self, prefix: &str) -> String {
        self.ids.new_id(prefix, self.clock.now())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for Runtime {
    /// The system clock and random ULIDs.
    fn default() -> Self {
        Runtime::new(Arc::new(SystemClock), Arc::new(RandomIds))
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}
