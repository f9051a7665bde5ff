"""Choosing a shipped SOP for a log when none is named (``--sop`` left out).

An SOP fits a log when its steps and aliases name most of the events **and** the
steps the KPIs rest on (its close and resolution roles) occur in it; without
that, every ticket would be reported unresolved. :func:`choose_shipped_sop` says
which one it took, or why none fits (:class:`SopChoice`), so the choice is never
silent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from csmine.mining.encoding import ACTIVITY
from csmine.performance.plain import plain
from csmine.performance.preparation import missing_steps_text

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP


def _coverage(sop: SOP, counts: pd.Series) -> float:
    """Share of the events (``counts`` per activity name) that ``sop``'s steps and aliases name."""
    mapping = sop.activity_map()
    return float(counts[[a in mapping for a in counts.index]].sum()) / float(counts.sum())


def suggest_sop(df: pd.DataFrame, *, activity_key: str = ACTIVITY, minimum: float = 0.9) -> tuple[str | None, float]:
    """The shipped SOP whose steps and aliases name the most events of ``df``.

    Returns:
        ``(name, coverage)``: the SOP and the share of events it maps, or
        ``(None, best coverage)`` when no SOP maps at least ``minimum`` of them.
        Ties go to the first name in :func:`process_models.list_sops` order
        (``complaint`` before ``complaint-v2``).
    """
    from process_models import list_sops, load_sop

    if len(df) == 0:
        return None, 0.0
    counts = df[activity_key].astype(str).value_counts()
    best: tuple[str | None, float] = (None, 0.0)
    for name in list_sops():
        covered = _coverage(load_sop(name), counts)
        if covered > best[1] + 1e-12:
            best = (name, covered)
    if best[1] < minimum:
        return None, best[1]
    return best


#: KPI roles an SOP chosen without ``--sop`` must see in the log (each one it defines).
CHOICE_ROLES = ("close", "resolution")


@dataclass(frozen=True, slots=True)
class SopCandidate:
    """One shipped SOP held against a log when none was named.

    Attributes:
        sop: the SOP's name.
        coverage: share of the log's events its steps and aliases name (0-1).
        close_step_seen: every one of its close and resolution roles has a step
            (or an alias of one) that occurs in the log.
        why: in words, why it fits or not.
        missing: its roles (``close``, ``resolution``) whose steps never occur.
    """

    sop: str
    coverage: float
    close_step_seen: bool
    why: str
    missing: tuple[str, ...] = ()

    def brief(self, minimum: float) -> str:
        """In a few words, e.g. ``complaint names 42% of the events (needs 90%)``."""
        text = f"{self.sop} names {self.coverage:.0%} of the events"
        if self.coverage < minimum - 1e-12:
            text += f" (needs {minimum:.0%})"
        if self.missing and self.coverage >= minimum - 1e-12:
            text += f" but {self.why}"  # the steps that never occur, by name
        elif self.missing:
            text += f" and its {' and '.join(self.missing)} " \
                    f"step{'s' if len(self.missing) > 1 else ''} never occur{'' if len(self.missing) > 1 else 's'}"
        elif not self.close_step_seen:
            text += ", has no close or resolution step"
        return text


@dataclass(frozen=True, slots=True)
class SopChoice:
    """How the SOP of a command was chosen.

    Attributes:
        chosen: the SOP used (None: none).
        how: ``"--sop"`` (named), ``"--sop none"`` or ``"automatic"``.
        considered: with ``automatic``, every shipped SOP, best coverage first.
        minimum: the coverage an automatic choice needs.
    """

    chosen: str | None
    how: str
    considered: tuple[SopCandidate, ...] = ()
    minimum: float = 0.9

    def describe(self, *, none_allowed: bool = True) -> str:
        """The choice in one line (for stderr); ``none_allowed=False``: for a command that needs an SOP."""
        if self.how == "--sop none":
            return "no SOP (--sop none): roles, targets and time limits are not used"
        if self.how == "--sop":
            return f"using SOP {self.chosen!r} (--sop)"
        if self.chosen is not None:
            best = self.considered[0]
            return (f"using SOP {self.chosen!r}: its steps and aliases name {best.coverage:.0%} of the events and "
                    "its close and resolution steps occur (pass --sop to choose another, --sop none for none)")
        shown = "; ".join(c.brief(self.minimum) for c in self.considered[:2])
        if not none_allowed:
            return (f"no shipped SOP fits the log ({shown}): pass --sop NAME|FILE "
                    "(see `csmine sop list`)")
        return (f"no SOP used: no shipped SOP fits the log ({shown}; --json lists all {len(self.considered)}); "
                "figures that need an SOP are not computed: pass --sop NAME|FILE to use one, or --sop none")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return plain(asdict(self))


def _role_seen(sop: SOP, present: set[str], role: str) -> bool:
    steps = set(sop.roles.get(role, ()))
    names = steps | {src for src, step in sop.aliases.items() if step in steps}
    return bool(names & present)


def choose_shipped_sop(df: pd.DataFrame, *, activity_key: str = ACTIVITY, minimum: float = 0.9) -> SopChoice:
    """The shipped SOP for a log when none is named, or none, with the reasons.

    An SOP fits when its steps and aliases name at least ``minimum`` of the events
    (as :func:`suggest_sop` measures) **and** every one of its ``close`` and
    ``resolution`` roles has a step that occurs in the log (through its aliases):
    an SOP whose resolution step never happens would report every ticket as
    unresolved. Of those that fit, the one naming the most events is chosen (ties:
    :func:`process_models.list_sops` order). ``considered`` lists every shipped SOP,
    best coverage first, with why it fits or not.
    """
    from process_models import list_sops, load_sop

    if len(df) == 0:
        return SopChoice(None, "automatic", (), minimum)
    counts = df[activity_key].astype(str).value_counts()
    present = set(counts.index)
    found = [_candidate(name, load_sop(name), counts, present, minimum) for name in list_sops()]
    order = sorted(range(len(found)), key=lambda i: (-found[i].coverage, i))
    considered = tuple(found[i] for i in order)
    fits = [c for c in considered if c.coverage >= minimum - 1e-12 and c.close_step_seen]
    return SopChoice(fits[0].sop if fits else None, "automatic", considered, minimum)


def _candidate(name: str, sop: SOP, counts: pd.Series, present: set[str], minimum: float) -> SopCandidate:
    """One shipped SOP held against the log's activity counts, with why it fits or not."""
    coverage = _coverage(sop, counts)
    defined = [r for r in CHOICE_ROLES if sop.roles.get(r)]
    missing = [r for r in defined if not _role_seen(sop, present, r)]
    reasons = []
    if coverage < minimum - 1e-12:
        reasons.append(f"names {coverage:.0%} of the events (needs {minimum:.0%})")
    if not defined:
        reasons.append("has no close or resolution step to find in the log")
    for role in missing:
        reasons.append("its " + missing_steps_text(role, sop.roles[role]))
    why = "; ".join(reasons) if reasons else (
        f"fits: names {coverage:.0%} of the events; its close and resolution steps occur")
    return SopCandidate(name, coverage, bool(defined) and not missing, why, tuple(missing))


def _activities(df: Any) -> Any:
    return df[ACTIVITY].astype(str)


def check_sop_covers(sop: Any, df: Any) -> None:
    """Raise :class:`SopMismatchError` when ``sop`` knows none of ``df``'s activities."""
    if sop is None or df is None or len(df) == 0:
        return
    from csmine.errors import SopMismatchError

    activities = _activities(df)
    mapping = sop.activity_map()
    if activities.isin(list(mapping)).any():
        return
    seen = list(activities.value_counts().index[:3])
    raise SopMismatchError(
        f"SOP {sop.id!r} knows none of the log's activities (e.g. {', '.join(map(repr, seen))}): "
        "pass --sop NAME|FILE with an SOP for this log (see `csmine sop list`, `csmine sop validate`)"
    )


def choose_sop(ref: str | None, df: Any = None, *, allow_none: bool = False, with_choice: bool = False,
               needs: str = "this command needs an SOP") -> Any:
    """The SOP for ``--sop REF`` and a note for stderr (empty when nothing to say).

    ``REF`` names a shipped SOP or a file (unknown: ``ModelNotFoundError``, exit 4);
    ``none`` means no SOP where ``allow_none``, else :class:`SopMismatchError`
    (exit 4, ``needs`` says why). Without ``REF``: the shipped SOP that names at
    least 90% of ``df``'s events **and** whose close and resolution steps occur in
    it (:func:`csmine.performance.sop_choice.choose_shipped_sop`); when none fits, no SOP where
    ``allow_none`` (the note says which SOPs were considered and why none fits),
    else :class:`SopMismatchError`. Never a default SOP. An SOP that knows none of
    ``df``'s activities raises :class:`SopMismatchError` (exit 4).

    Returns:
        ``(sop, note)``, or ``(sop, note, choice)`` with ``with_choice``
        (:class:`csmine.performance.sop_choice.SopChoice`, for ``--json``'s ``sop_choice``).
    """
    from process_models import load_sop

    from csmine.errors import SopMismatchError

    def done(sop: Any, note: str, choice: Any) -> Any:
        return (sop, note, choice) if with_choice else (sop, note)

    if ref is not None and ref.strip().lower() == "none":
        if not allow_none:
            raise SopMismatchError(f"{needs}: --sop none is not possible here; pass --sop NAME|FILE "
                                   "(see `csmine sop list`)")
        choice = SopChoice(None, "--sop none")
        return done(None, choice.describe(), choice)
    if ref:
        sop = load_sop(ref)
        check_sop_covers(sop, df)
        return done(sop, "", SopChoice(sop.id, "--sop"))
    have_log = df is not None and len(df) > 0
    choice = choose_shipped_sop(df) if have_log else SopChoice(None, "automatic")
    if choice.chosen is not None:
        sop = load_sop(choice.chosen)
        check_sop_covers(sop, df)
        return done(sop, choice.describe(), choice)
    if allow_none:
        note = choice.describe() if have_log else "no SOP chosen: no events to choose one by; pass --sop NAME|FILE"
        return done(None, note, choice)
    why = (choice.describe(none_allowed=False) if have_log
           else "there are no events to choose one by: pass --sop NAME|FILE")
    raise SopMismatchError(f"{needs}, and {why}")
