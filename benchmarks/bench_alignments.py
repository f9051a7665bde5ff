"""Exact alignments: csmine against pm4py on the same logs and nets, in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_alignments.py          # full; pm4py takes minutes
    .venv/bin/python benchmarks/bench_alignments.py --quick    # sampled variants

For each (log, net) pair it aligns every case with csmine (``align_log``: variant
grouping, reachability graph, dynamic programme, per-case mapping; no cache kept
between runs) and with pm4py's ``conformance_diagnostics_alignments`` (state-equation
A*, one process). Each tool runs in a fresh child process on the same pickled input;
the benchmark prints both wall times (the call only, imports and loading excluded),
the ratio, the increase of peak resident memory during each call, and checks that
every case has the same cost and fitness.

Pairs: BPI Challenge 2013 incidents (activity = concept:name/lifecycle:transition)
against a hand-written incident SOP net, against the shipped ``it-incident`` SOP
(when ``process_models`` provides it; activities mapped to steps by its aliases),
and against the inductive miner's net (noise 0.2); Helpdesk against the inductive
miner's net (noise 0.2). Targets (issue 8): >= 20x on the SOP nets, >= 50x on the
inductive miner's net for BPIC 2013.

Logs come from ``$CSMINE_DATASETS`` or ``<repo>/../shared/datasets``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

CASE = "case:concept:name"
ACT = "concept:name"


datasets_root = common.datasets_root


# ---------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float, float, str]:
    """Run ``fn`` once: (result, wall s, CPU s, peak MB, how memory was measured); see
    :func:`common.measure`."""
    c0 = time.process_time()
    result, seconds, peak, how = common.measure(fn)
    return result, seconds, time.process_time() - c0, peak, how


# ---------------------------------------------------------------------------------
# logs and nets
# ---------------------------------------------------------------------------------


def incident_sop_net() -> tuple[Any, Any, Any]:
    """Hand-written incident SOP over BPIC 2013 activities (6 places, 11 transitions).

    The same net as in tests/unit/csmine/test_alignments.py: optional queueing, a
    work loop (wait for the user or plain wait then a silent resume; reassign;
    requeue), then resolved and closed, or resolved in the call.
    """
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    net = PetriNet("incident-sop")
    places = {
        n: PetriNet.Place(n)
        for n in ("start", "ready", "working", "waiting", "resolved", "end")
    }
    for p in places.values():
        net.places.add(p)
    spec = [
        ("queue", "Queued/Awaiting Assignment", "start", "ready"),
        ("direct", None, "start", "ready"),
        ("work", "Accepted/In Progress", "ready", "working"),
        ("wait_user", "Accepted/Wait - User", "working", "waiting"),
        ("wait", "Accepted/Wait", "working", "waiting"),
        ("resume", None, "waiting", "ready"),
        ("assign", "Accepted/Assigned", "working", "ready"),
        ("requeue", "Queued/Awaiting Assignment", "working", "ready"),
        ("resolve", "Completed/Resolved", "working", "resolved"),
        ("close", "Completed/Closed", "resolved", "end"),
        ("in_call", "Completed/In Call", "working", "end"),
    ]
    for name, label, src, dst in spec:
        t = PetriNet.Transition(name, label)
        net.transitions.add(t)
        add_arc_from_to(places[src], t, net)
        add_arc_from_to(t, places[dst], net)
    return net, Marking({places["start"]: 1}), Marking({places["end"]: 1})


def read_bpic() -> pd.DataFrame:
    import pm4py

    path = datasets_root() / "bpic2013" / "BPI_Challenge_2013_incidents.xes.gz"
    df = pm4py.read_xes(str(path))
    df[ACT] = df[ACT] + "/" + df["lifecycle:transition"]
    return df[[CASE, ACT, "time:timestamp"]].copy()


def read_helpdesk() -> pd.DataFrame:
    import pm4py

    df = pm4py.read_xes(str(datasets_root() / "helpdesk" / "helpdesk_4580cases.xes.gz"))
    return df[[CASE, ACT, "time:timestamp"]].copy()


def it_incident_sop(
    df: pd.DataFrame,
) -> tuple[pd.DataFrame, tuple[Any, Any, Any]] | None:
    """The shipped it-incident SOP's net and the log mapped to its step names."""
    try:
        from process_models import load_sop

        sop = load_sop("it-incident")
        net, im, fm = sop.to_petri_net()
    except Exception as exc:  # not shipped yet, or being rebuilt by its owner
        print(f"  (skipping the it-incident SOP: {exc})", file=sys.stderr)
        return None
    mapped = df.copy()
    names = {a: (sop.map_activity(a) or a) for a in mapped[ACT].unique()}
    mapped[ACT] = mapped[ACT].map(names)
    return mapped, (net, im, fm)


def sample_cases(df: pd.DataFrame, n_variants: int, seed: int) -> pd.DataFrame:
    """Cases of ``n_variants`` variants: the most frequent half, the rest at random."""
    traces = df.groupby(CASE, sort=True)[ACT].agg(tuple)
    counts = traces.value_counts()
    variants = list(counts.index)
    if n_variants >= len(variants):
        return df
    top = variants[: n_variants // 2]
    rest = random.Random(seed).sample(
        variants[n_variants // 2 :], n_variants - len(top)
    )
    keep = set(top) | set(rest)
    cases = traces.index[traces.isin(keep)]
    return df[df[CASE].isin(cases)]


# ---------------------------------------------------------------------------------
# one comparison
# ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    cases: int
    variants: int
    states: int | None
    csmine_s: float
    pm4py_s: float
    ratio: float
    csmine_cpu_s: float
    pm4py_cpu_s: float
    cpu_ratio: float
    csmine_peak_mb: float
    pm4py_peak_mb: float
    memory_measure: str
    equal: bool
    mismatches: int
    target: float | None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio >= self.target


def _worker(side: str, in_path: str, out_path: str) -> None:
    """Child process: align a pickled (log, net) with one tool; time and memory."""
    import pickle

    import pm4py  # unpickling the net needs it; imported before timing
    from pm4py.util import constants

    from csmine.conformance import alignments

    constants.SHOW_PROGRESS_BAR = False
    with open(in_path, "rb") as fh:
        df, net, im, fm = pickle.load(fh)
    if side == "csmine":

        def run() -> tuple[list[int], list[float], int, int | None]:
            frame, by_variant = alignments.align_log(df, net, im, fm)
            states = alignments.compile_model(net, im, fm).n_states
            return (
                frame["cost"].tolist(),
                frame["fitness"].tolist(),
                len(by_variant),
                states,
            )
    else:

        def run() -> tuple[list[int], list[float], int, int | None]:
            res = pm4py.conformance_diagnostics_alignments(
                df,
                net,
                im,
                fm,
                multi_processing=False,
                variant_str="Variants.VERSION_STATE_EQUATION_A_STAR",
            )
            return [r["cost"] for r in res], [r["fitness"] for r in res], 0, None

    (costs, fitness, n_variants, states), seconds, cpu, peak_mb, how = measure(run)
    with open(out_path, "wb") as fh:
        pickle.dump(
            {
                "costs": costs,
                "fitness": fitness,
                "variants": n_variants,
                "states": states,
                "seconds": seconds,
                "cpu": cpu,
                "peak_mb": peak_mb,
                "how": how,
            },
            fh,
        )


def _run_worker(side: str, in_path: Path, workdir: Path) -> dict[str, Any]:
    import pickle
    import subprocess

    out_path = workdir / f"{side}.out.pkl"
    subprocess.run(
        [sys.executable, __file__, "--worker", side, str(in_path), str(out_path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with open(out_path, "rb") as fh:
        return pickle.load(fh)  # type: ignore[no-any-return]


def compare(
    name: str, df: pd.DataFrame, net: Any, im: Any, fm: Any, target: float | None
) -> Result:
    """Align ``df`` on the net with csmine and with pm4py, each in a fresh process."""
    import pickle
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-align-") as tmp:
        workdir = Path(tmp)
        in_path = workdir / "input.pkl"
        with open(in_path, "wb") as fh:
            pickle.dump((df, net, im, fm), fh)
        ours = _run_worker("csmine", in_path, workdir)
        print(
            f"  csmine {ours['seconds']:8.3f} s  ({ours['variants']} variants)",
            file=sys.stderr,
            flush=True,
        )
        ref = _run_worker("pm4py", in_path, workdir)
        print(f"  pm4py  {ref['seconds']:8.3f} s", file=sys.stderr, flush=True)
    # both list the cases sorted by case id
    if len(ours["costs"]) == len(ref["costs"]):
        mismatches = sum(
            1
            for a, b, c, d in zip(
                ours["costs"],
                ref["costs"],
                ours["fitness"],
                ref["fitness"],
                strict=True,
            )
            if a != b or c != d
        )
    else:
        mismatches = max(len(ours["costs"]), len(ref["costs"]))
    t_ours, t_pm = ours["seconds"], ref["seconds"]
    return Result(
        name=name,
        cases=len(ours["costs"]),
        variants=ours["variants"],
        states=ours["states"],
        csmine_s=round(t_ours, 4),
        pm4py_s=round(t_pm, 3),
        ratio=round(t_pm / t_ours, 1) if t_ours > 0 else float("inf"),
        csmine_cpu_s=round(ours["cpu"], 4),
        pm4py_cpu_s=round(ref["cpu"], 3),
        cpu_ratio=round(ref["cpu"] / ours["cpu"], 1)
        if ours["cpu"] > 0
        else float("inf"),
        csmine_peak_mb=round(ours["peak_mb"], 1),
        pm4py_peak_mb=round(ref["peak_mb"], 1),
        memory_measure=ours["how"],
        equal=mismatches == 0,
        mismatches=mismatches,
        target=target,
    )


def print_table(results: list[Result]) -> None:
    head = (
        f"{'log / net':<30} {'cases':>5} {'vars':>5} {'states':>6} {'csmine s':>9} "
        f"{'pm4py s':>8} {'ratio':>7} {'cpu ratio':>9} {'target':>6} "
        f"{'MB ours':>7} {'MB pm4py':>8} {'costs':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        target = "-" if r.target is None else f">={r.target:g}x"
        verdict = "" if r.met is None else (" met" if r.met else " MISSED")
        print(
            f"{r.name:<30} {r.cases:>5} {r.variants:>5} {r.states or '-':>6} "
            f"{r.csmine_s:>9.3f} {r.pm4py_s:>8.2f} {r.ratio:>6.1f}x "
            f"{r.cpu_ratio:>8.1f}x {target:>6} "
            f"{r.csmine_peak_mb:>7.1f} {r.pm4py_peak_mb:>8.1f} "
            f"{'equal' if r.equal else 'DIFFER':>6}{verdict}"
        )
    if results:
        print(
            f"times: wall clock of the call; cpu ratio: the same with process CPU time "
            "(steadier on a busy machine). "
            f"memory: {results[0].memory_measure} during the call; "
            "costs: every case's cost and fitness compared."
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="sample variants (default 200 per log)"
    )
    parser.add_argument(
        "--sample", type=int, default=None, help="number of variants to sample per log"
    )
    parser.add_argument(
        "--only",
        choices=["sop", "it-incident", "inductive", "helpdesk"],
        action="append",
        help="run only these comparisons (repeatable)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results as JSON"
    )
    args = parser.parse_args(argv)

    import pm4py
    from pm4py.util import constants

    constants.SHOW_PROGRESS_BAR = False
    n_sample = args.sample if args.sample is not None else (200 if args.quick else None)
    only = set(args.only or ["sop", "it-incident", "inductive", "helpdesk"])

    results: list[Result] = []
    if only & {"sop", "it-incident", "inductive"}:
        print("reading BPI Challenge 2013 incidents ...", file=sys.stderr, flush=True)
        bpic = read_bpic()
        if n_sample:
            bpic = sample_cases(bpic, n_sample, seed=2013)
        if "sop" in only:
            print("BPIC 2013 x hand-written SOP net", file=sys.stderr)
            results.append(
                compare(
                    "BPIC 2013 x hand-written SOP", bpic, *incident_sop_net(), target=20
                )
            )
        if "it-incident" in only:
            mapped = it_incident_sop(bpic)
            if mapped is not None:
                print("BPIC 2013 x it-incident SOP", file=sys.stderr)
                results.append(
                    compare(
                        "BPIC 2013 x it-incident SOP", mapped[0], *mapped[1], target=20
                    )
                )
        if "inductive" in only:
            full = read_bpic() if n_sample else bpic
            net, im, fm = pm4py.discover_petri_net_inductive(full, noise_threshold=0.2)
            print("BPIC 2013 x inductive miner (noise 0.2)", file=sys.stderr)
            results.append(
                compare("BPIC 2013 x inductive (0.2)", bpic, net, im, fm, target=50)
            )
    if "helpdesk" in only:
        helpdesk = read_helpdesk()
        net, im, fm = pm4py.discover_petri_net_inductive(helpdesk, noise_threshold=0.2)
        if n_sample:
            helpdesk = sample_cases(helpdesk, n_sample, seed=4580)
        print("Helpdesk x inductive miner (noise 0.2)", file=sys.stderr)
        results.append(
            compare("Helpdesk x inductive (0.2)", helpdesk, net, im, fm, target=None)
        )

    print()
    if n_sample:
        print(
            f"(quick: at most {n_sample} variants per log; same cases for both tools)"
        )
    print_table(results)
    if args.json:
        rows = [
            asdict(r)
            | {
                "met": r.met,
                "note": f"{r.variants} variants, {r.states or 'pm4py'} states, "
                f"cpu ratio {r.cpu_ratio}x, costs {'equal' if r.equal else 'DIFFER'}",
            }
            for r in results
        ]
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r.equal for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
