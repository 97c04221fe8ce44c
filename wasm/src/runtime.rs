//! The clock and id generator of the JavaScript host.

use std::sync::Arc;

use asap_state::{ulid_from, Clock, IdGenerator, Runtime, Timestamp};
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

/// ULIDs from `crypto.getRandomValues` (present in Node, browsers, workerd and Deno), with
/// `Math.random` as a fallback where it is missing.
struct JsIds;

impl IdGenerator for JsIds {
    fn new_id(&self, prefix: &str, now: Timestamp) -> String {
        let mut random = [0u8; 10];
        if get_random_values(&mut random).is_err() {
            for b in random.iter_mut() {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                {
                    *b = (js_sys::Math::random() * 256.0) as u8;
                }
            }
        }
        format!("{prefix}{}", ulid_from(now, random))
    }
}

/// The host's runtime.
pub fn host() -> Runtime {
    Runtime::new(Arc::new(JsClock), Arc::new(JsIds))
}
