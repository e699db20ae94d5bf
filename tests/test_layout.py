"""The package's shape: no import circle; stages are entry points that import the library, never another
stage; evaluations depend on the checkpoint loader, not the training loop; modules stay small; and every
stage's code dependencies (``dvc.yaml`` deps, the Snakemake rules' inputs: derived from the imports by
:mod:`crosspoint.code_deps`) cover every project module the stage's process imports, by this file's own
reading of the imports, so a change to any of them makes the stage stale."""

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
        code_deps = [d for d in pipeline.all_deps(stage) if d.startswith("crosspoint")]
        gaps = sorted(p.relative_to(REPO).as_posix() for p in closure(module) if not covered(p, code_deps))
        if gaps:
            missing[stage.name] = gaps
    assert not missing, f"stages importing modules their deps do not list: {missing}"


STAGE_PACKAGE = "crosspoint.stages"


def test_no_stage_imports_another_stage_and_only_the_entry_point_imports_stages():
    """Stages are thin entry points over the library: a stage module imports library modules only, and
    no library module or tool imports a stage (the command line finds them through cli.COMMANDS)."""
    mods = graph()
    stages = {m for m in mods if m.startswith(STAGE_PACKAGE + ".")}
    assert len(stages) == len({c.split()[1] for c in (s.cmd for s in pipeline.STAGES)})
    wrong = {m: sorted(d for d in deps if d.startswith(STAGE_PACKAGE + ".")) for m, deps in mods.items()}
    wrong = {m: d for m, d in wrong.items() if d}
    assert not wrong, f"modules importing a stage: {wrong}"
    for stage in pipeline.STAGES:
        assert pipeline.command_module(stage).startswith(STAGE_PACKAGE + "."), stage.name


def test_evaluations_depend_on_the_checkpoint_loader_not_the_training_loop():
    """A change to the pretraining loop does not make an evaluation stale when best.pt comes out the same."""
    loop = REPO / "crosspoint/training/pretrain.py"
    assert loop.exists()
    for stage in pipeline.STAGES:
        if stage.name in ("features", "merge_features", "linear_svm", "fewshot", "partseg", "report"):
            assert loop not in closure(pipeline.command_module(stage)), stage.name
            assert "crosspoint/models/encoders.py" in pipeline.all_deps(stage) or stage.name == "linear_svm"


# Modules above about 400 lines, each one cohesive thing (the issue that set the limit allows those).
LARGE_AND_COHESIVE = {
    "crosspoint/pipeline.py": "the stage list and its two renderings (dvc.yaml, Snakemake rules)",
    "crosspoint/store.py": "the HDF5 layouts of every store and the atomic-write discipline they share",
    "crosspoint/sources/mesh_dir.py": "one dataset source: any folder of labelled meshes",
}


def test_modules_stay_small_or_are_one_cohesive_thing():
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    large = {p: n for p, n in sizes.items() if n > 420 and p not in LARGE_AND_COHESIVE}
    assert not large, f"modules over 420 lines (split them, or say why they are one thing): {large}"
