//! Rendering usage events as JSON or CSV, shared by every backend.

use crate::error::{Result, StateError};
use crate::model::UsageEvent;
use crate::options::ExportFormat;

/// The CSV header row.
pub const CSV_HEADER: [&str; 9] = [
    "id",
    "task_id",
    "agent_id",
    "consumer_id",
    "tokens_in",
    "tokens_out",
    "duration_ms",
    "api_calls",
    "timestamp",
];

/// Renders events (already filtered and ordered) in `format`.
pub fn render<'a>(
    events: impl IntoIterator<Item = &'a UsageEvent>,
    format: ExportFormat,
) -> Result<String> {
    let io = |e: &dyn std::fmt::Display| StateError::StorageIo(format!("export failed: {e}"));
    match format {
        ExportFormat::Json => {
            let list: Vec<&UsageEvent> = events.into_iter().collect();
            serde_json::to_string(&list).map_err(|e| io(&e))
        }
        ExportFormat::Csv => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            w.write_record(CSV_HEADER).map_err(|e| io(&e))?;
            for e in events {
                let m = &e.metrics;
                w.write_record([
                    e.id.as_str(),
                    e.task_id.as_str(),
                    e.agent_id.as_str(),
                    e.consumer_id.as_str(),
                    &m.tokens_in.to_string(),
                    &m.tokens_out.to_string(),
                    &m.duration_ms.to_string(),
                    &m.api_calls.to_string(),
                    &e.timestamp.to_string(),
                ])
                .map_err(|e| io(&e))?;
            }
            let bytes = w.into_inner().map_err(|e| io(&e))?;
            String::from_utf8(bytes).map_err(|e| io(&e))
        }
    }
}
