//! The clock and id generator of the JavaScript host.

use std::sync::{Arc, Mutex};

use asap_state::{prefixed_ulid, Clock, IdGenerator, Runtime, Timestamp};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// `Date.now()`.
struct JsClock;

impl Clock for JsClock {
    fn now(&self) -> Timestamp {
        #[allow(clippy::cast_possible_truncation)]
        let ms = js_sys::Date::now() as i64;
        Timestamp::from_millis(ms).unwrap_or(Timestamp::MIN)
    }
}

/// Random bytes fetched per call of `crypto.getRandomValues`: one call costs about as much as
/// the rest of a small save (measured in Node), so ids draw from a pool refilled every 64 ids.
const POOL: usize = 640;

/// ULIDs from `crypto.getRandomValues` (present in Node, browsers, workerd and Deno), with
/// `Math.random` as a fallback where it is missing.
struct JsIds {
    pool: Mutex<([u8; POOL], usize)>,
}

fn refill(bytes: &mut [u8; POOL]) {
    if get_random_values(bytes).is_err() {
        for b in bytes.iter_mut() {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
}

impl IdGenerator for JsIds {
    fn new_id(&self, prefix: &str, now: Timestamp) -> String {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (bytes, used) = &mut *pool;
        let mut take = bytes.get(*used..used.saturating_add(10));
        if take.is_none() {
            refill(bytes);
            *used = 0;
            take = bytes.get(0..10);
        }
        let mut random = [0u8; 10];
        if let Some(src) = take {
            random.copy_from_slice(src);
        }
        *used = used.saturating_add(10);
        prefixed_ulid(prefix, now, random)
    }
}

/// The host's runtime.
pub fn host() -> Runtime {
    Runtime::new(
        Arc::new(JsClock),
        Arc::new(JsIds {
            pool: Mutex::new(([0; POOL], POOL)),
        }),
    )
}
