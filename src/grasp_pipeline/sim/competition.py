"""Scoring the final (the competition scenario): judging one pick from the simulator's ground truth
and the run's summary. No ROS here: the runner (:mod:`grasp_pipeline.apps.competition_ros`) feeds
it the heights it read from ``sim/objects`` before and after each pick.

Heights are metres (robot base z) keyed by the ground truth's ids ``<name>#<body>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

LIFT_MIN_M = 0.05  # an object counts as lifted when it ends this much higher


@dataclass
class PickVerdict:
    """What one pick did: ``success`` (the asked object, and only it, lifted while the planner
    reports it held), ``reason``, the ids it ``lifted`` and, of those, the ``wrong`` ones (not
    the asked object); ``decoy`` when one of them is a decoy."""

    success: bool
    reason: str
    lifted: list[str]
    wrong: list[str]
    decoy: bool


@dataclass
class PickRecord:
    """One entry of the task list as run: ``index`` in the list, ``object`` and ``surface``
    asked for, the verdict, wall ``seconds`` and simulated ``sim_seconds`` it took."""

    index: int
    object: str
    surface: str
    success: bool
    reason: str
    lifted: list[str]
    wrong: list[str]
    decoy: bool
    seconds: float
    sim_seconds: float


def _name(key: str) -> str:
    return key.split("#")[0]


def judge_pick(
    target: str,
    before: Mapping[str, float],
    after: Mapping[str, float],
    planner_ok: bool,
    planner_message: str,
    decoys: Iterable[str] = (),
    lift_min_m: float = LIFT_MIN_M,
) -> PickVerdict:
    """Judge a pick of ``target`` (catalog name) from the heights ``before`` and ``after`` it.

    An object lifted whose name is not ``target`` is a wrong pick whatever the planner says (a
    decoy pick when its name is in ``decoys``); the pick succeeds only when the planner reported
    the object held, ``target`` rose at least ``lift_min_m`` and nothing else did. Objects
    missing from ``after`` are ignored (nothing leaves the scene during a pick).
    """
    rises = {k: after[k] - before[k] for k in before if k in after}
    lifted = sorted(k for k, dz in rises.items() if dz >= lift_min_m)
    wrong = [k for k in lifted if _name(k) != target]
    decoy_names = set(decoys)
    decoy = any(_name(k) in decoy_names for k in wrong)
    got = [k for k in lifted if _name(k) == target]
    if wrong:
        what = "decoy" if decoy else "wrong object"
        return PickVerdict(
            False,
            f"{what} lifted: {', '.join(wrong)}; planner said: {planner_message}",
            lifted,
            wrong,
            decoy,
        )
    if not planner_ok:
        return PickVerdict(False, planner_message, lifted, wrong, False)
    if not got:
        best = max((dz for k, dz in rises.items() if _name(k) == target), default=0.0)
        return PickVerdict(
            False,
            f"{target} rose only {best * 1e3:.0f} mm (dropped or not grasped); "
            f"planner said: {planner_message}",
            lifted,
            wrong,
            False,
        )
    return PickVerdict(True, f"lifted and held: {got[0]}", lifted, wrong, False)


def summarize_competition(records: list[PickRecord], meta: Mapping) -> dict:
    """The run's JSON: ``meta``, ``picks`` (each record), ``successes``, ``attempted``,
    ``success_rate``, ``decoys_picked`` (picks that lifted a decoy), ``wrong_picks`` (picks that
    lifted anything not asked for, decoys included), ``total_seconds`` / ``total_sim_seconds``
    (sums over the picks) and ``failure_reasons`` (first clause, counted)."""
    reasons: dict[str, int] = {}
    for r in records:
        if not r.success:
            key = r.reason.split(";")[0][:120]
            reasons[key] = reasons.get(key, 0) + 1
    n = len(records)
    ok = sum(r.success for r in records)
    return {
        **meta,
        "attempted": n,
        "successes": ok,
        "success_rate": ok / n if n else None,
        "decoys_picked": sum(r.decoy for r in records),
        "wrong_picks": sum(bool(r.wrong) for r in records),
        "total_seconds": sum(r.seconds for r in records),
        "total_sim_seconds": sum(r.sim_seconds for r in records),
        "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "picks": [asdict(r) for r in records],
    }
