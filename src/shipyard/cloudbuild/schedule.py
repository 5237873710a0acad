"""`waitFor` as a dependency graph (Cloud Build docs, "Configuring the order of build steps").

- no `waitFor`, or an empty one: after every earlier step (so a file without any runs serially);
- `waitFor: ['-']`: at the start of the build;
- `waitFor: [a, b]`: once steps a and b have succeeded (`-` next to ids adds nothing).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from shipyard.cloudbuild.parse import START, Step

Graph = tuple[frozenset[int], ...]  # graph[i]: the indexes step i waits for


def dependencies(steps: Sequence[Step]) -> Graph:
    index_of: dict[str, int] = {}
    graph = []
    for step in steps:
        if not step.wait_for:
            graph.append(frozenset(range(step.index)))
        else:  # parse.py made sure each id names an earlier step
            graph.append(frozenset(index_of[w] for w in step.wait_for if w != START))
        if step.id:
            index_of[step.id] = step.index
    return tuple(graph)


def ready(graph: Graph, succeeded: Collection[int], started: Collection[int]) -> list[int]:
    """Steps not started yet whose every dependency succeeded, in file order."""
    return [i for i, needs in enumerate(graph)
            if i not in started and all(n in succeeded for n in needs)]


def waves(graph: Graph) -> list[list[int]]:
    """Steps grouped by how early they can start: each wave only waits for earlier waves."""
    level: list[int] = []
    for needs in graph:
        level.append(1 + max((level[n] for n in needs), default=-1))
    return [[i for i, lv in enumerate(level) if lv == w] for w in range(max(level) + 1)]
