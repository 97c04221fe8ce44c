#!/usr/bin/env python3
"""Writes an asap-state SQLite file with the Python reference's stores (asap-protocol 2.5.10,
SQLiteSnapshotStore + SQLiteMeteringStore) and prints what the reference answers on it, as one
JSON document in the shape read_with_reference.py prints (and expected.json uses).

Used by tests/sqlite_interop.rs (run with the interpreter in $ASAP_PYTHON):

    write_with_reference.py DB_PATH

DB_PATH must not exist yet. The data covers: unicode task ids and data, nested data, floats and
large integers, checkpoints, a replaced version (upsert), a deleted version, created_at with a
non-UTC offset and without an offset (the reference stores datetime.isoformat() as given), and
usage events of three agents with microsecond timestamps, including two with the same timestamp.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from read_with_reference import answers, call  # noqa: E402  (also installs warnings.deprecated)

from datetime import datetime, timedelta, timezone  # noqa: E402

from asap.models.entities import StateSnapshot  # noqa: E402
from asap.state.metering import UsageEvent, UsageMetrics  # noqa: E402
from asap.state.stores.sqlite import SQLiteMeteringStore, SQLiteSnapshotStore  # noqa: E402

UTC = timezone.utc
T0 = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    if os.path.exists(path):
        print(f"{path} exists", file=sys.stderr)
        return 2
    snapshots = SQLiteSnapshotStore(path)
    metering = SQLiteMeteringStore(path)

    def save(task_id, version, data, checkpoint=False, created_at=None, sid=None):
        call(
            snapshots.save,
            StateSnapshot(
                id=sid or f"snap_py_{task_id}_{version}",
                task_id=task_id,
                version=version,
                data=data,
                checkpoint=checkpoint,
                created_at=created_at or T0 + timedelta(minutes=version, microseconds=version),
            ),
        )

    save("task_py_1", 1, {"step": 1, "notes": "first"})
    save("task_py_1", 2, {"step": 2, "draft": True}, checkpoint=True)
    # Same (task_id, version) again: the reference replaces it silently.
    save("task_py_1", 2, {"step": 2, "final": {"ok": True, "n": [1, 2, 3]}}, checkpoint=True,
         sid="snap_py_replaced")
    save("task_py_1", 3, {"step": 3, "ratio": 0.1, "tiny": 3e-05, "neg": -1.25, "big": 1e300})
    save("task_py_1", 4, {"step": 4})
    call(snapshots.delete, "task_py_1", 4)
    save(
        "задача-✓",
        1,
        {
            "結果": [4, 7, 1, 7],
            "ключ": {"emoji😀": "🙂", "quote\"d": "line\nbreak\ttab", "nested": {"a": {"b": {"c": None}}}},
            "ints": [0, -1, 9007199254740993, -9223372036854775808, 18446744073709551615],
            "empty": {},
            "list": [],
            "": "empty key",
            "html": "<script>alert(1)</script>",
        },
        checkpoint=True,
    )
    save("задача-✓", 5, {"sparse": "version 5 after 1"})
    # A created_at with a +02:00 offset and one without an offset: the reference stores
    # isoformat() as given; asap-state reads them as the same instants in UTC.
    save("task_py_offset", 1, {"tz": "+02:00"},
         created_at=datetime(2026, 5, 4, 5, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2))))
    save("task_py_offset", 2, {"tz": "naive"}, created_at=datetime(2026, 5, 4, 3, 30, 0))

    agents = ["agent_a", "agent_b", "агент-c"]
    consumers = ["c1", "consumer:ü", "c3"]
    n = 0
    for i in range(36):
        agent = agents[i % 3]
        at = T0 + timedelta(minutes=7 * i, microseconds=(i * 104729) % 1000000)
        if i == 10:
            at = T0 + timedelta(minutes=7 * 7, microseconds=(7 * 104729) % 1000000)  # same as i=7 (agent_b)
        call(
            metering.record,
            UsageEvent(
                task_id=["task_py_1", "задача-✓", "task_py_offset"][i % 3],
                agent_id=agent,
                consumer_id=consumers[(i // 3) % 3],
                metrics=UsageMetrics(
                    tokens_in=(i * 37) % 500,
                    tokens_out=(i * 91) % 300,
                    duration_ms=i * 1000 + 7,
                    api_calls=i % 4,
                ),
                timestamp=at,
            ),
        )
        n += 1

    def iso(dt):
        return dt.isoformat()

    def at_index(i):
        return T0 + timedelta(minutes=7 * i, microseconds=(i * 104729) % 1000000)

    spec = {
        "tasks": ["task_py_1", "задача-✓", "task_py_offset"],
        "queries": [
            {"agent_id": "agent_a", "start": iso(T0 - timedelta(days=1)), "end": iso(T0 + timedelta(days=1))},
            {"agent_id": "agent_b", "start": iso(T0), "end": iso(T0 + timedelta(days=1))},
            # Inclusive bounds exactly on two events' timestamps.
            {"agent_id": "агент-c", "start": iso(at_index(5)), "end": iso(at_index(20))},
            {"agent_id": "agent_a", "start": iso(T0), "end": iso(T0 + timedelta(days=1)), "limit": 3, "offset": 2},
            {"agent_id": "agent_b", "start": iso(T0), "end": iso(T0 + timedelta(days=1)), "offset": 4},
            {"agent_id": "agent_a", "start": iso(T0 + timedelta(days=2)), "end": iso(T0 + timedelta(days=3))},
            {"agent_id": "nobody", "start": iso(T0 - timedelta(days=1)), "end": iso(T0 + timedelta(days=1))},
        ],
        "aggregates": [{"agent_id": a, "period": "all"} for a in agents + ["nobody"]],
        "missing_task": "task_not_there",
    }
    out = answers(path, spec)
    out["recorded_events"] = n
    import json

    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
