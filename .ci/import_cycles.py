"""Print every import circle among the project's modules: `.venv/bin/python .ci/import_cycles.py`.

A circle is a strongly connected group of modules (each reaches every other through imports,
those inside functions included; `--typing` counts those under `if TYPE_CHECKING:` too). Exits 1
when there is one. `lint-imports` (.importlinter, run by `make test`) keeps the directions; this
lists the circles anywhere, for the picture.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "accounts", "marketplace", "inference", "billing", "dashboard",
            "stripe_standin")


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: the graph is deep enough for the recursion limit
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found, key=lambda group: (-len(group), group))


def main() -> int:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports="--typing" not in sys.argv,
                               cache_dir=None)
    found = circles(graph)
    for group in found:
        members = set(group)
        print(f"circle of {len(group)} modules:")
        for module in group:
            inside = sorted(graph.find_modules_directly_imported_by(module) & members)
            print(f"  {module} -> {', '.join(inside)}")
    print(f"{len(found)} circle(s) among {len(graph.modules)} modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
