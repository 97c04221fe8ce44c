//! The JavaScript methods of every metering-store class, written once (see
//! `snapshot_methods.rs`): the functions, and [`metering_store_class!`].

use asap_state::binding::string_arg;
use asap_state::{
    ExportFilter, ExportFormat, MeteringStore, QueryOptions, SeriesOptions, StateError, Timestamp,
    UsageEventInput, Window,
};
use wasm_bindgen::prelude::*;

use crate::convert::{arg, arg_or_null, text_to_js, to_js};
use crate::error::{js, JsResult};

const ARG: fn(String) -> StateError = StateError::InvalidArgument;

fn string(v: &JsValue, name: &str) -> JsResult<String> {
    js(arg_or_null(v, name, ARG).and_then(|v| string_arg(&v, name)))
}

fn timestamp(v: &JsValue, name: &str) -> JsResult<Timestamp> {
    js(
        arg(v, name, StateError::InvalidTimestamp).and_then(|v| match v {
            Some(v) => Timestamp::from_json(&v, name),
            None => Err(ARG(format!("{name} is required"))),
        }),
    )
}

pub(crate) fn record(store: &dyn MeteringStore, event: &JsValue) -> JsResult<JsValue> {
    let input = js(arg_or_null(event, "event", StateError::InvalidEvent)
        .and_then(|v| UsageEventInput::from_json(&v)))?;
    // Written by the core's event writer (serde_json's bytes, without its formatter).
    text_to_js(&js(store.record(input))?.json_text())
}

pub(crate) fn query(
    store: &dyn MeteringStore,
    agent_id: &JsValue,
    start: &JsValue,
    end: &JsValue,
    options: &JsValue,
) -> JsResult<JsValue> {
    let agent_id = string(agent_id, "agentId")?;
    let start = timestamp(start, "start")?;
    let end = timestamp(end, "end")?;
    let options =
        js(arg(options, "options", ARG).and_then(|v| QueryOptions::from_json(v.as_ref())))?;
    // Written by the core's event writer (serde_json's bytes, without its formatter).
    text_to_js(&js(store.query_json(&agent_id, start, end, options))?)
}

pub(crate) fn aggregate(
    store: &dyn MeteringStore,
    agent_id: &JsValue,
    period: &JsValue,
    window: &JsValue,
) -> JsResult<JsValue> {
    let agent_id = string(agent_id, "agentId")?;
    let period = string(period, "period")?;
    let window =
        js(arg(window, "window", ARG).and_then(|v| Window::from_json(v.as_ref(), "window")))?;
    to_js(&js(store.aggregate(&agent_id, &period, window))?)
}

pub(crate) fn series(
    store: &dyn MeteringStore,
    agent_id: &JsValue,
    options: &JsValue,
) -> JsResult<JsValue> {
    let agent_id = string(agent_id, "agentId")?;
    let options =
        js(arg(options, "options", ARG).and_then(|v| SeriesOptions::from_json(v.as_ref())))?;
    to_js(&js(store.series(&agent_id, options))?)
}

pub(crate) fn agents(store: &dyn MeteringStore) -> JsResult<JsValue> {
    to_js(&js(store.agents())?)
}

pub(crate) fn export(
    store: &dyn MeteringStore,
    format: &JsValue,
    filter: &JsValue,
) -> JsResult<String> {
    let format = js(arg_or_null(format, "format", ARG).and_then(|v| ExportFormat::from_json(&v)))?;
    let filter = js(arg(filter, "filter", ARG).and_then(|v| ExportFilter::from_json(v.as_ref())))?;
    js(store.export(format, &filter))
}

/// Gives the `#[wasm_bindgen]` class `$class` (a struct whose field `inner` is a guarded
/// [`MeteringStore`]) the metering-store methods of the package (see `snapshot_store_class!`).
macro_rules! metering_store_class {
    ($class:ident) => {
        #[wasm_bindgen::prelude::wasm_bindgen(js_class = $class)]
        impl $class {
            /// Records an event (idempotent by `id`).
            pub fn record(
                &self,
                event: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::metering_methods::record(&self.inner, &event)
            }

            /// The agent's events in `[start, end]`, ascending.
            pub fn query(
                &self,
                agent_id: wasm_bindgen::JsValue,
                start: wasm_bindgen::JsValue,
                end: wasm_bindgen::JsValue,
                options: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::metering_methods::query(&self.inner, &agent_id, &start, &end, &options)
            }

            /// Totals of the agent's events.
            pub fn aggregate(
                &self,
                agent_id: wasm_bindgen::JsValue,
                period: wasm_bindgen::JsValue,
                window: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::metering_methods::aggregate(&self.inner, &agent_id, &period, &window)
            }

            /// Hourly or daily buckets of the agent's events.
            pub fn series(
                &self,
                agent_id: wasm_bindgen::JsValue,
                options: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::metering_methods::series(&self.inner, &agent_id, &options)
            }

            /// Every agent with events, sorted.
            pub fn agents(&self) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::metering_methods::agents(&self.inner)
            }

            /// The events as JSON or CSV.
            pub fn export(
                &self,
                format: wasm_bindgen::JsValue,
                filter: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<String> {
                $crate::error::alive()?;
                $crate::metering_methods::export(&self.inner, &format, &filter)
            }
        }
    };
}
pub(crate) use metering_store_class;
