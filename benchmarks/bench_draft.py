"""``csmine sop draft`` against pm4py's inductive miner (infrequent, noise 0.2), side by side.

Run from the repository root::

    .venv/bin/python benchmarks/bench_draft.py            # Helpdesk and BPIC 2013 incidents
    .venv/bin/python benchmarks/bench_draft.py --quick    # Helpdesk only
    .venv/bin/python benchmarks/bench_draft.py --json out.json

For each log, on the same tickets:

* **csmine**: :func:`csmine.mining.draft.draft_sop` at the default coverage (0.9),
  evaluated with :func:`csmine.conformance.deviations.check_conformance` as
  ``csmine conform --sop draft.toml`` does (events in the SOP's tie order, the
  default closing rule with the draft's ``closed_when``);
* **pm4py**: ``pm4py.discover_process_tree_inductive(noise_threshold=0.2)`` on all
  the tickets, turned into an SOP with the same ``closed_when`` (so the same tickets
  count as open), evaluated the same way.

It prints alignment log fitness and align-ETC precision of both, their ratio
(csmine / pm4py), the widest choice of each flow and whether it has parallel
blocks, and the discovery times (the draft's includes evaluating its candidates).
Targets: Helpdesk fitness >= 0.90 and precision >= 0.75; BPIC 2013 at least
pm4py's fitness and precision.

Logs come from ``$CSMINE_DATASETS`` or ``<repo>/../shared/datasets``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import pandas as pd
from common import Record, datasets_root, machine_note, print_records, write_json

CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"
LOGS = {
    "helpdesk": ("helpdesk", "helpdesk_4580cases.xes.gz"),
    "bpic2013": ("bpic2013", "BPI_Challenge_2013_incidents.xes.gz"),
}


def load(name: str) -> pd.DataFrame:
    """The log as a frame: BPIC 2013's activity is concept:name/lifecycle:transition."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py

        raw = pm4py.read_xes(str(datasets_root().joinpath(*LOGS[name])), show_progress_bar=False)
    act = raw[ACT].astype(str)
    if name == "bpic2013":
        act = act + "/" + raw["lifecycle:transition"].astype(str)
    df = pd.DataFrame({
        CASE: raw[CASE].astype(str).to_numpy(dtype=object),
        ACT: act.to_numpy(dtype=object),
        TS: pd.to_datetime(raw[TS], utc=True),
        "org:resource": raw["org:resource"].astype(object).to_numpy() if "org:resource" in raw else None,
        "org:group": raw["org:group"].astype(object).to_numpy() if "org:group" in raw else None,
    })
    return df.sort_values([CASE, TS], kind="stable").reset_index(drop=True)


def widest_choice(flow: Any) -> tuple[int, bool]:
    """The widest choice of a flow, and whether it has a parallel block."""
    if flow is None or isinstance(flow, str):
        return 0, False
    kids = [widest_choice(c) for c in flow.children]
    own = sum(1 for c in flow.children if c is not None) if flow.operator == "xor" else 0
    return max([own, *(k[0] for k in kids)]), flow.operator == "and" or any(k[1] for k in kids)


def compare(name: str) -> Record:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
        from pm4py.util import constants

        constants.SHOW_PROGRESS_BAR = False
    from csmine.conformance.deviations import check_conformance
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.eventlog.ordering import order_events
    from csmine.mining.draft import draft_sop
    from process_models import SOP, Step
    from process_models.flow import flow_to_text, iter_flow_steps
    from process_models.petri import process_tree_to_flow

    df = load(name)
    rule = ClosingRule()

    def figures(sop: Any) -> tuple[float, float | None]:
        report = check_conformance(order_events(df, sop), sop, closing=rule)
        return report.log_fitness, report.precision

    t0 = time.perf_counter()
    draft = draft_sop(df, name=f"{name}-draft", evaluate=figures)
    draft_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    tree = pm4py.discover_process_tree_inductive(df[[CASE, ACT, TS]], noise_threshold=0.2, multi_processing=False)
    imf_s = time.perf_counter() - t0
    flow = process_tree_to_flow(tree)
    steps = tuple(dict.fromkeys(iter_flow_steps(flow)))
    imf = SOP(id="pm4py-imf", title="pm4py IMf 0.2", version="1", steps=tuple(Step(s, "", "agent") for s in steps),
              flow=flow, closed_when=tuple(c for c in draft.close_steps if c in steps))
    imf_fit, imf_prec = figures(imf)

    fit, prec = draft.fitness or 0.0, draft.precision or 0.0
    ours_width, ours_par = widest_choice(draft.sop.flow)
    imf_width, imf_par = widest_choice(flow)
    if name == "helpdesk":
        target, met = "fitness >= 0.90, precision >= 0.75", fit >= 0.90 and prec >= 0.75
    else:
        target = "fitness and precision >= pm4py IMf 0.2"
        met = fit >= imf_fit and prec >= (imf_prec or 0.0)
    print(f"\n{name}: {df[CASE].nunique():,} tickets, {len(df):,} events; closed when: "
          f"{', '.join(draft.close_steps) or '(every ticket)'}")
    print(f"  {'':<22} {'fitness':>8} {'precision':>10} {'widest choice':>14} {'parallel':>9} {'seconds':>8}")
    print(f"  {'csmine sop draft':<22} {fit:>8.3f} {prec:>10.3f} {ours_width:>14} {ours_par!s:>9} {draft_s:>8.2f}")
    print(f"  {'pm4py IMf 0.2':<22} {imf_fit:>8.3f} {(imf_prec or 0):>10.3f} {imf_width:>14} {imf_par!s:>9} "
          f"{imf_s:>8.2f}")
    print(f"  {'ratio csmine / pm4py':<22} {fit / imf_fit:>8.3f} {prec / (imf_prec or 1):>10.3f}")
    print(f"  draft flow: {flow_to_text(draft.sop.flow)}")
    print(f"  pm4py flow: {flow_to_text(flow)}")
    return Record(
        benchmark="bench_draft", name=f"{name}: draft vs IMf 0.2 (fitness, precision)", csmine_s=round(draft_s, 3),
        pm4py_s=round(imf_s, 3), ratio=None, target=target, met=met,
        note=(f"fitness {fit:.3f} vs {imf_fit:.3f} ({fit / imf_fit:.3f}x), precision {prec:.3f} vs "
              f"{(imf_prec or 0):.3f} ({prec / (imf_prec or 1):.3f}x); widest choice {ours_width} vs {imf_width}"),
        extra={"draft_fitness": fit, "draft_precision": prec, "imf_fitness": imf_fit, "imf_precision": imf_prec,
               "draft_flow": flow_to_text(draft.sop.flow), "imf_flow": flow_to_text(flow),
               "kept_variants": draft.kept_variants, "variants": draft.variants},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Helpdesk only")
    parser.add_argument("--json", metavar="PATH", help="write the result records as JSON")
    args = parser.parse_args()
    print(machine_note())
    records = [compare(name) for name in (("helpdesk",) if args.quick else ("helpdesk", "bpic2013"))]
    print()
    print_records(records)
    write_json(args.json, records)


if __name__ == "__main__":
    main()
