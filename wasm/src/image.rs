//! `mergeStateImages`: several SQLite files of the reference's tables (Durable Objects'
//! exports, say) as one, written by the core's engine-free file writer
//! (`asap_state::sql::image`). Exported by the durable-object entry and the full one.

use asap_state::sql::image::merge_images_prefixed;
use asap_state::StateError;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::convert::{get, message};
use crate::error::{alive, js, to_js, JsResult};

fn arg(message: String) -> JsValue {
    to_js(StateError::InvalidArgument(message))
}

/// One file holding every snapshot and usage event of `images`: an array whose items are
/// `Uint8Array`s or `{ bytes: Uint8Array, taskIdPrefix: string }` (that image's task ids get
/// the prefix in front, so that owners with the same task ids merge without colliding).
#[wasm_bindgen(js_name = mergeStateImages, skip_typescript)]
pub fn merge_state_images(images: JsValue) -> JsResult<Vec<u8>> {
    alive()?;
    if !Array::is_array(&images) {
        return Err(arg("images must be an array of Uint8Array".into()));
    }
    let mut files: Vec<(Vec<u8>, String)> = Vec::new();
    for (i, image) in Array::from(&images).iter().enumerate() {
        if image.is_instance_of::<Uint8Array>() {
            files.push((Uint8Array::from(image).to_vec(), String::new()));
            continue;
        }
        if !image.is_object() {
            return Err(arg(format!(
                "images[{i}] must be a Uint8Array or {{ bytes, taskIdPrefix }}"
            )));
        }
        let field = |name: &str| {
            get(&image, &JsValue::from_str(name)).map_err(|e| {
                arg(format!(
                    "images[{i}].{name} could not be read: {}",
                    message(&e)
                ))
            })
        };
        let bytes = field("bytes")?;
        if !bytes.is_instance_of::<Uint8Array>() {
            return Err(arg(format!("images[{i}].bytes must be a Uint8Array")));
        }
        let prefix = field("taskIdPrefix")?;
        let prefix = if prefix.is_undefined() {
            String::new()
        } else {
            prefix
                .as_string()
                .ok_or_else(|| arg(format!("images[{i}].taskIdPrefix must be a string")))?
        };
        files.push((Uint8Array::from(bytes).to_vec(), prefix));
    }
    let parts: Vec<(&[u8], &str)> = files
        .iter()
        .map(|(bytes, prefix)| (bytes.as_slice(), prefix.as_str()))
        .collect();
    js(merge_images_prefixed(&parts))
}
