"""The project files a command's process runs: the code dependencies of each stage in ``dvc.yaml`` and in
the Snakemake rules, derived from the imports instead of written by hand.

A module's imports are every ``import crosspoint...`` / ``from crosspoint... import ...`` anywhere in its
file (function bodies too, since the stages import lazily) and every string that is exactly the dotted
name of a project module (a registry that ``importlib`` loads from). Importing
``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first, so those count too. The entry point
(``crosspoint/__init__.py``, ``__main__.py``, ``cli.py``: argument parsing and the version string) is
followed but not listed: it changes no output, and listing it would make every stage stale on a new
subcommand. Its function bodies are not followed either: ``crosspoint.load_encoder`` imports the model
code only when a user calls it, and every stage process imports ``crosspoint/__init__.py``.

A stage may also run, per instance, one package of several chosen by name at run time (``prepare``: the
package of its dataset's source, :func:`package_files`); those packages are left out of its own imports
(the registry names them by a computed string) and each is checked to stay within its folder.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "crosspoint"
ROOT = Path(__file__).resolve().parents[1]
ENTRY = frozenset({"crosspoint/__init__.py", "crosspoint/__main__.py", "crosspoint/cli.py"})
_MODULE_NAME = re.compile(r"crosspoint(\.[A-Za-z_][A-Za-z0-9_]*)+")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of project module ``name`` (a package's ``__init__.py``), or None."""
    rel = Path(*name.split("."))
    for candidate in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _nodes(tree: ast.Module, top_level: bool):
    """Every node of ``tree``, or (``top_level``) those outside function bodies."""
    if not top_level:
        yield from ast.walk(tree)
        return
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, root: Path = ROOT, registries: bool = True) -> set[str]:
    """The project modules the file names (see the module docstring); with ``registries`` False only its
    import statements (the static import graph). In the entry point's files, outside function bodies only."""
    out: set[str] = set()
    entry = path.resolve().relative_to(root.resolve()).as_posix() in ENTRY if path.is_relative_to(root) else False
    for node in _nodes(ast.parse(path.read_text(), str(path)), entry):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == PACKAGE:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}", root)}
        elif registries and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _MODULE_NAME.fullmatch(node.value):
            out.add(node.value)
    return {m for m in out if module_file(m, root) is not None}


def closure(module: str, root: Path = ROOT) -> set[Path]:
    """The files of ``module`` and of every project module it imports, transitively (parent packages too)."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:i]), root)
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imports_of(path, root))
    return seen


@cache
def code_deps(module: str, root: Path = ROOT) -> tuple[str, ...]:
    """``closure(module)`` as sorted repository-relative paths, without the entry point."""
    rel = {p.relative_to(root).as_posix() for p in closure(module, root)}
    return tuple(sorted(rel - ENTRY))


class CodeDepsError(Exception):
    """A package's imports reach files its instances' deps would not list."""


def package_files(package: str, common: Iterable[str], root: Path = ROOT) -> tuple[str, ...]:
    """Every ``.py`` file in the folder of ``package`` (repository-relative, sorted): what a stage instance
    running it depends on besides the stage's ``common`` files. Raises :class:`CodeDepsError` when the
    package's imports reach a project file that is in neither (another source's package, say)."""
    folder = "/".join(package.split(".")) + "/"
    common = set(common)
    outside = [f for f in code_deps(package, root) if not f.startswith(folder) and f not in common]
    if outside:
        raise CodeDepsError(
            f"{package} imports {', '.join(outside)}: outside {folder} and not among the modules every instance "
            f"depends on, so an edit to them would not rerun the instances that run {package}; import only "
            f"shared modules (move what several packages need out of their folders)")
    files = (root / folder).rglob("*.py")
    return tuple(sorted(p.relative_to(root).as_posix() for p in files))
