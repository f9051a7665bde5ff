"""The demo's --json outputs, held to golden files so that moving code changes no figure.

A 600-ticket demo centre (seed 7) is recorded once; each command below runs on it with
--json, and its output (minus what names the run: the store's path, the time) must equal
``tests/golden/<name>.json``. After a deliberate change of output, regenerate them with
``CSMINE_UPDATE_GOLDEN=1 python -m pytest tests/integration/test_golden_json.py`` and
review the diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
VOLATILE = {"store", "generated_at", "elapsed_s", "recorded_at", "opened_recorded_at", "integrity", "path"}

COMMANDS = {
    "stats": ("stats",),
    "kpi": ("kpi", "--sop", "complaint"),
    "kpi_pilot": ("kpi", "--sop", "complaint", "--phase", "pilot"),
    "bottlenecks": ("bottlenecks", "--sop", "complaint"),
    "conform": ("conform", "--sop", "complaint"),
    "discover": ("discover",),
    "compare": ("compare", "baseline", "pilot", "--sop", "complaint", "--resamples", "200"),
    "review_day": ("review", "--day", "2025-02-26", "--phase", "pilot", "--sop", "complaint"),
    "replay": ("replay", "--sop", "complaint", "--compare-sop", "complaint-v2", "--phase", "pilot"),
    "trace": ("trace", "T-000042", "--sop", "complaint"),
    "audit_sample": ("audit", "sample", "--sop", "complaint", "--rate", "0.1", "--seed", "2025-03-03"),
}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from event_store import open_store

    from csmine.simulation.demo import record_demo

    path = tmp_path_factory.mktemp("golden") / "demo.db"
    with open_store(str(path), create=True) as store:
        record_demo(store, tickets=600, seed=7)
    return str(path)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_demo_json_equals_golden(cli, demo_store, name):
    result = cli(*COMMANDS[name], "--json", "--store", demo_store)
    assert result.exit_code == 0, result.output
    got = _strip(json.loads(result.stdout))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("CSMINE_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with CSMINE_UPDATE_GOLDEN=1"
    assert got == json.loads(path.read_text(encoding="utf-8"))
