"""The package's shape: no import circle; stages are entry points that import the library, never another
stage; evaluations depend on the checkpoint loader, not the training loop; imports follow the layers; every
stage's code dependencies (``dvc.yaml`` deps, the Snakemake rules' inputs) cover every project module the
stage's process imports, so a change to any of them makes the stage stale; and the import reading of
:mod:`crosspoint.code_deps`, which those deps are derived from, catches the imports stages make lazily."""

from __future__ import annotations

import ast
from pathlib import Path

from crosspoint import cli, pipeline
from crosspoint.code_deps import ENTRY, closure, imports_of, module_file

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "crosspoint"


def graph() -> dict[str, set[str]]:
    """Module -> the project modules its import statements name (registry strings left out: cli.py's
    command table and the dataset sources' are looked up by name, not imported at load)."""
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mods[name] = imports_of(path, registries=False)
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
    """Per stage; for prepare per source: an instance runs its stage's module and its dataset's source (loaded
    by name from the registry), and depends on the stage's code deps and that source's folder."""
    from crosspoint.sources.registry import SOURCES

    missing = {}
    for stage in pipeline.STAGES:
        command = stage.cmd.split()[1]
        module = cli.COMMANDS[command][0]
        code_deps = [d for d in pipeline.all_deps(stage) if d.startswith("crosspoint")]
        runs = {stage.name: ([module], code_deps)}
        if stage.source_code:
            runs = {f"{stage.name} of a {s} dataset": ([module, f"crosspoint.sources.{s}"],
                                                       [*code_deps, f"{pipeline.SOURCES_DIR}/{s}"]) for s in SOURCES}
        for name, (modules, deps) in runs.items():
            files = set().union(*(closure(m) for m in modules))
            gaps = sorted(p.relative_to(REPO).as_posix() for p in files if not covered(p, deps))
            if gaps:
                missing[name] = gaps
    assert not missing, f"stages importing modules their deps do not list: {missing}"


def test_no_source_imports_another_source_and_prepare_imports_none():
    """Each source's package stays within its folder and the shared modules (so prepare@synth depends on no
    ModelNet code); the prepare stage reaches the packages only through the registry's names."""
    from crosspoint.sources.registry import SOURCES

    prepare = next(st for st in pipeline.STAGES if st.name == "prepare")
    packages = tuple(f"crosspoint/sources/{s}/" for s in SOURCES)
    common = [d for d in pipeline.all_deps(prepare) if d.startswith("crosspoint")]
    assert "crosspoint/sources/registry.py" in common
    assert not [d for d in common if d.startswith(packages)]
    for source in SOURCES:
        files = {p.relative_to(REPO).as_posix() for p in closure(f"crosspoint.sources.{source}")}
        others = sorted(f for f in files if f.startswith(packages) and not f.startswith(f"crosspoint/sources/{source}/"))
        assert not others, f"{source} imports {others}"
    assert set(pipeline.source_code(prepare)) == set(SOURCES)


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


# The layers, bottom up: a module imports modules of its own layer or below, never above.
BOTTOM = {"store", "paths", "exact", "numerics", "config", "shards", "subsets", "progress", "metrics",
          "checkpoints", "devices", "feature_files", "settings"}
DOMAIN = ("sources", "rendering", "points", "training", "evaluate")
LAYERS = ("bottom (file layouts, atomic writes, checkpoint files, devices, settings; no torch at import)",
          "models", "domain packages: " + ", ".join(DOMAIN), "reporting", "stages, tools, pipeline, cli")
# imports between domain packages that the work itself needs (anything else between them is a fault)
DOMAIN_EDGES = {("points", "rendering"): "scans render depth maps"}


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in BOTTOM or not top:  # crosspoint itself only pins the numerics
        return 0
    if top == "models":
        return 1
    if top in DOMAIN:
        return 2
    return 3 if top == "reporting" else 4


def test_imports_follow_the_layers():
    """Every import points down (or within a layer), the domain packages import each other only where the
    work needs it, and the bottom layer imports no torch when loaded (see docs/pipeline.md#layers)."""
    against, torch_at_load = [], []
    for module, deps in graph().items():
        for dep in sorted(deps):
            if layer(dep) > layer(module):
                against.append(f"{module} ({LAYERS[layer(module)]}) imports {dep} ({LAYERS[layer(dep)]})")
            elif layer(dep) == layer(module) == 2:
                pair = (module.split(".")[1], dep.split(".")[1])
                if pair[0] != pair[1] and pair not in DOMAIN_EDGES:
                    against.append(f"{module} imports {dep}: domain packages {pair} are independent")
        if layer(module) == 0 and module != "crosspoint":
            tree = ast.parse(module_file(module).read_text())
            for node in tree.body:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                torch_at_load += [module for n in names if n.split(".")[0] == "torch"]
    assert not against, "imports against the layers:\n" + "\n".join(against)
    assert not torch_at_load, f"bottom-layer modules importing torch when loaded: {torch_at_load}"


# the entry point pins the numerics; crosspoint/sources/ is being restructured on its own
INIT_WITH_CODE = {"crosspoint/__init__.py"}  # the entry point: it pins the numerics before anything runs


def _only_docstring_and_own_reexports(path: Path, package: str | None) -> bool:
    """The module holds a docstring and, when ``package`` is given, re-exports from inside ``package`` only
    (imports from it and ``__all__``)."""
    body = ast.parse(path.read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    for node in body:
        own_import = package is not None and isinstance(node, ast.ImportFrom) and node.level == 0 \
            and (node.module == package or (node.module or "").startswith(package + "."))
        exports = package is not None and isinstance(node, ast.Assign) \
            and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]
        if not (own_import or exports):
            return False
    return True


def test_package_inits_hold_a_docstring_only():
    """Importing ``a.b.c`` runs ``a/b/__init__.py``: whatever a package's ``__init__`` imported or defined would
    be run (and be a code dependency) of every stage using any module of the package. Each concern lives in a
    module named for it instead. A dataset source's package (``crosspoint/sources/<source>/``) may re-export its
    own ``Params`` and source class: the registry loads it by name, and a ``prepare`` instance depends on the
    whole folder anyway."""
    with_code = []
    for path in sorted(PACKAGE.rglob("__init__.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in INIT_WITH_CODE:
            continue
        parts = path.relative_to(REPO).parent.parts
        source_package = ".".join(parts) if len(parts) == 3 and parts[1] == "sources" else None
        if not _only_docstring_and_own_reexports(path, source_package):
            with_code.append(rel)
    assert not with_code, f"package __init__ files holding more than a docstring: {with_code}"


def test_code_deps_follow_lazy_imports_registries_and_parent_packages(tmp_path):
    """What the derived deps rest on: imports inside functions, a registry string naming a module (loaded
    with importlib), and the ``__init__`` of every package on the way all count; a docstring that merely
    mentions a module does not."""
    from crosspoint.code_deps import code_deps

    pkg = tmp_path / "crosspoint"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from crosspoint import base\n")
    (pkg / "base.py").write_text("")
    (pkg / "lazy.py").write_text("")
    (pkg / "registered.py").write_text("")
    (pkg / "mentioned.py").write_text("")
    (pkg / "stage.py").write_text(
        '"""Uses :mod:`crosspoint.mentioned`."""\n'
        'REGISTRY = {"x": "crosspoint.registered"}\n'
        "def main():\n    from crosspoint.sub import thing  # noqa\n    import crosspoint.lazy\n")
    assert imports_of(pkg / "stage.py", tmp_path) == {"crosspoint.sub", "crosspoint.lazy", "crosspoint.registered"}
    assert imports_of(pkg / "stage.py", tmp_path, registries=False) == {"crosspoint.sub", "crosspoint.lazy"}
    assert module_file("crosspoint.sub", tmp_path) == pkg / "sub" / "__init__.py"
    assert code_deps("crosspoint.stage", tmp_path) == (
        "crosspoint/base.py", "crosspoint/lazy.py", "crosspoint/registered.py", "crosspoint/stage.py",
        "crosspoint/sub/__init__.py")  # crosspoint/__init__.py is the entry point: followed, not listed


def test_a_package_reaching_another_package_fails_the_generation(tmp_path):
    """package_files (prepare's per-source deps) lists a package's folder, and raises when the package imports
    a file that is neither in its folder nor among the common ones (here another source's package)."""
    import pytest

    from crosspoint.code_deps import CodeDepsError, package_files

    src = tmp_path / "crosspoint" / "sources"
    for folder in (src / "a", src / "b"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    (tmp_path / "crosspoint" / "__init__.py").write_text("")
    (src / "__init__.py").write_text("")
    (src / "shared.py").write_text("")
    (src / "a" / "reader.py").write_text("from crosspoint.sources import shared\n")
    (src / "b" / "reader.py").write_text("from crosspoint.sources.a.reader import x\n")
    common = ["crosspoint/sources/__init__.py", "crosspoint/sources/shared.py"]
    assert package_files("crosspoint.sources.a", common, tmp_path) == (
        "crosspoint/sources/a/__init__.py", "crosspoint/sources/a/reader.py")
    (src / "a" / "__init__.py").write_text("from crosspoint.sources.a import reader\n")
    (src / "b" / "__init__.py").write_text("from crosspoint.sources.b import reader\n")
    with pytest.raises(CodeDepsError, match=r"crosspoint\.sources\.b imports crosspoint/sources/a/"):
        package_files("crosspoint.sources.b", common, tmp_path)
