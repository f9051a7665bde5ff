"""Where the shared real logs are (env CSMINE_DATASETS, default ../shared/datasets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def datasets_root() -> Path:
    return Path(os.environ.get("CSMINE_DATASETS", ROOT.parent / "shared" / "datasets"))


def dataset_path(*parts: str) -> Path:
    path = datasets_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset {path} not available (set CSMINE_DATASETS)")
    return path


BPIC2013 = ("bpic2013", "BPI_Challenge_2013_incidents.xes.gz")
HELPDESK = ("helpdesk", "helpdesk_4580cases.xes.gz")
RUNNING_EXAMPLE = ("pm4py_standard", "running-example.xes")
