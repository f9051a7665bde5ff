"""The tables of ``benchmarks/bench_why.py``: recall per arm, false discoveries, speed."""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from typing import Any

import common

__all__ = ["print_tables", "summarise"]


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_arm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_arm[r["arm"]].append(r)
    out = []
    for arm, rs in by_arm.items():
        lifts = [r["lift"] for r in rs if r["lift"] is not None]
        effects = [r["effect"] for r in rs if r["effect"] is not None]
        out.append({
            "arm": arm, "runs": len(rs),
            "outcome": rs[0]["outcome"] + (f" ({rs[0]['phase']})" if rs[0]["phase"] else ""),
            "affected": statistics.median(r["affected"] for r in rs),
            "lift": statistics.median(lifts) if lifts else None,
            "effect": statistics.median(effects) if effects else None,
            "top1": sum(1 for r in rs if r["rank"] == 1) / len(rs),
            "top3": sum(1 for r in rs if r["rank"] is not None and r["rank"] <= 3) / len(rs),
            "found": sum(1 for r in rs if r["rank"] is not None) / len(rs),
            "seconds": statistics.median(r["seconds"] for r in rs),
        })
    return out


def print_tables(planted: list[dict[str, Any]], null: dict[str, Any] | None,
                 speed: list[dict[str, Any]] | None, file: Any = None,
                 permuted: dict[str, Any] | None = None, section: dict[str, Any] | None = None) -> dict[str, Any]:
    """Print every table that was run; the verdict (recall, FDR, speed) as a dict."""
    file = file or sys.stdout
    verdict: dict[str, Any] = {}
    if planted:
        print_planted(planted, verdict, file)
    if null:
        print_null(null, verdict, file)
    if permuted:
        print_permuted(permuted, verdict, file)
    if speed:
        print_speed(speed, section, verdict, file)
    print(f"\n{common.machine_note()}", file=file)
    return verdict


def print_planted(planted: list[dict[str, Any]], verdict: dict[str, Any], file: Any) -> None:
    print("\nPlanted causes: recall (20 seeds per arm unless --seeds)", file=file)
    head = (f"{'arm':<28} {'outcome':<39} {'runs':>4} {'affected':>8} {'lift':>6} {'effect':>6} {'top-1':>6} "
            f"{'top-3':>6} {'found':>6} {'s/run':>6}")
    print(head, file=file)
    print("-" * len(head), file=file)
    for s in summarise(planted):
        lift = f"{s['lift']:.2f}" if s["lift"] is not None else "inf"
        effect = f"{s['effect']:.2f}" if s["effect"] is not None else "inf"
        print(f"{s['arm']:<28} {s['outcome']:<39} {s['runs']:>4} {s['affected']:>8.0f} {lift:>6} {effect:>6} "
              f"{s['top1']:>6.0%} {s['top3']:>6.0%} {s['found']:>6.0%} {s['seconds']:>6.2f}", file=file)
    eligible = [r for r in planted if (r["effect"] is None or r["effect"] >= 1.5) and r["affected"] >= 200]
    hits = sum(1 for r in eligible if r["rank"] is not None and r["rank"] <= 3)
    recall = hits / len(eligible) if eligible else float("nan")
    verdict["recall"] = recall
    verdict["recall_runs"] = len(eligible)
    print(f"recall in the top 3, runs whose cause has an effect >= 1.5 on >= 200 affected tickets: "
          f"{hits}/{len(eligible)} = {recall:.1%} (target >= 95%: {'met' if recall >= 0.95 else 'MISSED'})",
          file=file)
    strong = [r for r in eligible if r["z"] >= 4]
    hs = sum(1 for r in strong if r["rank"] is not None and r["rank"] <= 3)
    print(f"  of them, the {len(strong)} that stand out by at least 4 standard errors (the detection floor "
          f"at ~350 tests): {hs}/{len(strong)} = {hs / max(len(strong), 1):.1%}", file=file)
    verdict["recall_above_floor"] = hs / max(len(strong), 1)
    below = [r for r in planted if r not in eligible]
    if below:
        hb = sum(1 for r in below if r["rank"] is not None and r["rank"] <= 3)
        print(f"  (runs outside the target's scope: {len(below)}, of them {hb} found in the top 3)", file=file)


def print_null(null: dict[str, Any], verdict: dict[str, Any], file: Any) -> None:
    print("\nNothing planted: false discoveries (judged on the other null logs, pooled)", file=file)
    head = f"{'question':<30} {'logs':>4} {'reported':>8} {'false':>6} {'FDR':>6}  examples of false ones"
    print(head, file=file)
    print("-" * len(head), file=file)
    for r in null["rows"]:
        print(f"{r['question']:<30} {r['logs']:>4} {r['reported']:>8} {r['false']:>6} {r['fdr']:>6.1%}  "
              f"{'; '.join(r['false_examples'])}", file=file)
    rep = sum(r["reported"] for r in null["rows"])
    false = sum(r["false"] for r in null["rows"])
    fdr = false / rep if rep else 0.0
    verdict["fdr"] = fdr
    print(f"false discoveries: {false}/{rep} = {fdr:.1%} of the reported contributors (target <= 5%: "
          f"{'met' if fdr <= 0.05 else 'MISSED'})", file=file)


def print_permuted(permuted: dict[str, Any], verdict: dict[str, Any], file: Any) -> None:
    runs = permuted["rows"]
    any_found = [r for r in runs if r["reported"]]
    rate = len(any_found) / len(runs) if runs else 0.0
    verdict["permuted_any"] = rate
    print(f"\nNothing there at all (the outcome shuffled over the tickets, {len(runs)} runs: "
          f"{len({r['seed'] for r in runs})} logs x {len({r['question'] for r in runs})} questions): "
          f"runs reporting any contributor {len(any_found)}/{len(runs)} = {rate:.1%}, "
          f"contributors reported {sum(r['reported'] for r in runs)}, all false "
          f"(target <= 5% of the runs: {'met' if rate <= 0.05 else 'MISSED'})", file=file)
    for r in any_found[:6]:
        print(f"  seed {r['seed']} {r['question']}: {'; '.join(r['names'])}", file=file)


def print_speed(speed: list[dict[str, Any]], section: dict[str, Any] | None, verdict: dict[str, Any],
                file: Any) -> None:
    print("\nSpeed: explain_outcome on the frame (what-if included)", file=file)
    for r in speed:
        print(f"  {r['outcome']:<28} {r['events']:>9,} events {r['tickets']:>8,} tickets  {r['seconds']:6.2f} s "
              f"wall, {r['cpu_s']:6.2f} s CPU  ({r['tested']} tested, {r['contributors']} shown)  "
              f"target <= 10 s: {'met' if r['seconds'] <= 10 else 'MISSED'}", file=file)
    verdict["speed_max_s"] = max(r["seconds"] for r in speed)
    if section:
        print(f"  the report's Why section (why_section, {section['events']:,} events, text columns as the "
              f"store gives them): {section['seconds']:.2f} s wall, {section['cpu_s']:.2f} s CPU "
              f"(load {section['load']})", file=file)
        verdict["section_cpu_s"] = section["cpu_s"]
