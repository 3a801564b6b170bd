"""Property test of packgate.reconcile.depends' cycle detection (hypothesis): on any small
dependency graph, a Pack is reported on a cycle exactly when it can reach itself, and the cycle
reported is a real path of dependsOn edges, as short as any."""

from __future__ import annotations

from itertools import pairwise

import pytest
from fuzzlib import FUZZ
from hypothesis import event, given
from hypothesis import strategies as st

from packgate.reconcile.depends import PackNode, find_cycle

pytestmark = pytest.mark.unit

NAMES = ["a", "b", "c", "d", "e", "f"]
graphs = st.dictionaries(
    st.sampled_from(NAMES),
    st.lists(st.sampled_from([*NAMES, "missing"]), max_size=4, unique=True).map(tuple),
    max_size=len(NAMES),
)


def distances(start: str, graph: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Edges from `start` to every Pack it reaches (an independent breadth-first count)."""
    seen: dict[str, int] = {}
    frontier = list(graph.get(start, ()))
    steps = 1
    while frontier:
        following = []
        for name in frontier:
            if name not in seen:
                seen[name] = steps
                following.extend(graph.get(name, ()))
        frontier = following
        steps += 1
    return seen


@FUZZ
@given(graphs, st.sampled_from(NAMES))
def test_a_cycle_is_reported_exactly_when_the_pack_reaches_itself(graph: dict[str, tuple[str, ...]], name: str) -> None:
    """find_cycle is non-empty iff `name` reaches itself; its path starts and ends at `name`,
    follows dependsOn edges, and has as many edges as the shortest way back."""
    packs = {n: PackNode("1.0.0", d) for n, d in graph.items()}
    cycle = find_cycle(name, graph.get(name, ()), packs)
    back = distances(name, graph).get(name)
    if back is None:
        assert cycle == ()
        event("no cycle")
        return
    assert (cycle[0], cycle[-1], len(cycle) - 1) == (name, name, back)
    assert all(b in graph.get(a, ()) for a, b in pairwise(cycle))
    event(f"cycle of {back}")
