#!/usr/bin/env python3
"""Reads an asap-state SQLite file with the Python reference (asap-protocol 2.5.10) and prints
its answers as one JSON document, in the shape of
tests/fixtures/python-ref-2.5.10/expected.json.

Used by tests/sqlite_interop.rs (run with the interpreter in $ASAP_PYTHON):

    read_with_reference.py DB_PATH SPEC_PATH

SPEC_PATH is a JSON file:

    {"tasks": ["task_id", ...],
     "queries": [{"agent_id": "...", "start": "<iso>", "end": "<iso>",
                  "limit": 2, "offset": 1}, ...],          # limit/offset optional
     "aggregates": [{"agent_id": "...", "period": "all"}, ...],
     "missing_task": "task id that is not in the file"}

Output (stdout):

    {"tasks": {task_id: {"versions": [...], "latest": snapshot, "each": {"<v>": snapshot}}},
     "queries": [{"agent_id", "start", "end", ["limit", "offset",] "events": [event, ...]}],
     "aggregates": {agent_id: aggregate},
     "missing": {"get": null, "versions": []}}

Snapshots and events are the reference's models as JSON; events have no "id" (the reference's
UsageEvent has none). Timestamps are printed with datetime.isoformat() after conversion to UTC
(naive values taken as UTC), the form asap-state returns; for the UTC text both write this is
exactly the reference's own printed form.

The reference opens the file in place and switches it to WAL mode (PRAGMA journal_mode=WAL), so
callers pass a copy.
"""

import warnings

import typing_extensions

# asap-protocol 2.5.10 uses warnings.deprecated (Python >= 3.13); provide it before importing asap.
warnings.deprecated = typing_extensions.deprecated

import asyncio  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from asap.state.stores.sqlite import SQLiteMeteringStore, SQLiteSnapshotStore  # noqa: E402


def call(fn, *args, **kwargs):
    """Calls a reference method, sync or async (metering is async in 2.5.x, snapshots sync)."""
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):

        async def wait():
            return await result

        result = asyncio.run(wait())
    return result


def utc_text(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def snapshot_json(s):
    if s is None:
        return None
    return {
        "id": s.id,
        "task_id": s.task_id,
        "version": s.version,
        "data": s.data,
        "checkpoint": s.checkpoint,
        "created_at": utc_text(s.created_at),
    }


def event_json(e):
    return {
        "task_id": e.task_id,
        "agent_id": e.agent_id,
        "consumer_id": e.consumer_id,
        "metrics": e.metrics.model_dump(mode="json"),
        "timestamp": utc_text(e.timestamp),
    }


def answers(db_path: str, spec: dict) -> dict:
    snapshots = SQLiteSnapshotStore(db_path)
    metering = SQLiteMeteringStore(db_path)
    out = {"tasks": {}, "queries": [], "aggregates": {}, "missing": {}}
    for task_id in spec.get("tasks", []):
        versions = call(snapshots.list_versions, task_id)
        out["tasks"][task_id] = {
            "versions": versions,
            "latest": snapshot_json(call(snapshots.get, task_id)),
            "each": {str(v): snapshot_json(call(snapshots.get, task_id, v)) for v in versions},
        }
    for q in spec.get("queries", []):
        kwargs = {}
        if "limit" in q:
            kwargs["limit"] = q["limit"]
        if "offset" in q:
            kwargs["offset"] = q["offset"]
        events = call(
            metering.query,
            q["agent_id"],
            datetime.fromisoformat(q["start"]),
            datetime.fromisoformat(q["end"]),
            **kwargs,
        )
        out["queries"].append({**q, "events": [event_json(e) for e in events]})
    for a in spec.get("aggregates", []):
        agg = call(metering.aggregate, a["agent_id"], a["period"])
        out["aggregates"][a["agent_id"]] = agg.model_dump(mode="json")
    missing = spec.get("missing_task")
    if missing is not None:
        out["missing"] = {
            "get": snapshot_json(call(snapshots.get, missing)),
            "versions": call(snapshots.list_versions, missing),
        }
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[2], encoding="utf-8") as f:
        spec = json.load(f)
    json.dump(answers(sys.argv[1], spec), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
