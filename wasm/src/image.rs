//! `mergeStateImages`: several SQLite files of the reference's tables (Durable Objects'
//! exports, say) as one, written by the core's engine-free file writer
//! (`asap_state::sql::image`). Exported by the durable-object entry and the full one.

use asap_state::sql::image::merge_images;
use asap_state::StateError;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::error::{alive, js, to_js, JsResult};

/// One file holding every snapshot and usage event of `images` (an array of `Uint8Array`s).
#[wasm_bindgen(js_name = mergeStateImages, skip_typescript)]
pub fn merge_state_images(images: JsValue) -> JsResult<Vec<u8>> {
    alive()?;
    if !Array::is_array(&images) {
        return Err(to_js(StateError::InvalidArgument(
            "images must be an array of Uint8Array".into(),
        )));
    }
    let mut files = Vec::new();
    for (i, image) in Array::from(&images).iter().enumerate() {
        if !image.is_instance_of::<Uint8Array>() {
            return Err(to_js(StateError::InvalidArgument(format!(
                "images[{i}] must be a Uint8Array"
            ))));
        }
        files.push(Uint8Array::from(image).to_vec());
    }
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    js(merge_images(&refs))
}
