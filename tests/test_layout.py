"""The package's shape: no import circle, and every stage's declared code dependencies (``dvc.yaml`` deps,
the Snakemake rules' inputs: one list in :mod:`crosspoint.pipeline`) cover every project module the stage's
process imports, so a change to any of them makes the stage stale (the lists are written by hand)."""

from __future__ import annotations

import ast
from pathlib import Path

from crosspoint import cli, pipeline

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "crosspoint"
# Imported by every stage through the entry point; they change no output (argument parsing, the package's
# version string; the numerics pin in __init__ is crosspoint/numerics.py, a dependency of every stage).
ENTRY = {"crosspoint/__init__.py", "crosspoint/__main__.py", "crosspoint/cli.py"}


def module_file(name: str) -> Path | None:
    rel = Path(*name.split("."))
    for candidate in (REPO / rel.with_suffix(".py"), REPO / rel / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    """Every ``crosspoint...`` module named by an import anywhere in the file (function bodies too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("crosspoint")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("crosspoint"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
    return out


def closure(start: str) -> set[Path]:
    """The files of ``start`` and of every project module it imports, transitively (parent packages too)."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            path = module_file(".".join(parts[:i]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imports_of(path))
    return seen


def graph() -> dict[str, set[str]]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mods[name] = {m for m in imports_of(path) if module_file(m) is not None}
    return mods


def test_no_import_circle():
    mods = graph()
    cycles = []
    for a, deps in mods.items():
        for b in deps:
            if a != b and a in mods.get(b, set()) and a < b:
                cycles.append((a, b))
    # longer circles: a depth-first search for a back edge
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(mods.get(m, ())):
            if d == m:
                continue
            if state.get(d) == 1:
                cycles.append(tuple(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import circles: {cycles}"


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return rel in ENTRY or any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def test_declared_code_deps_cover_every_imported_module():
    missing = {}
    for stage in pipeline.STAGES:
        command = stage.cmd.split()[1]
        module = cli.COMMANDS[command][0]
        code_deps = [d for d in stage.deps if d.startswith("crosspoint")]
        gaps = sorted(p.relative_to(REPO).as_posix() for p in closure(module) if not covered(p, code_deps))
        if gaps:
            missing[stage.name] = gaps
    assert not missing, f"stages importing modules their deps do not list: {missing}"
