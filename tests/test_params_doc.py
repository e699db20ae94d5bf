"""config/README.md's key tables are generated and up to date; the docs' relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crosspoint.config import load_params
from crosspoint.tools import params_doc
from crosspoint.tools.params_check import SECTIONS

ROOT = Path(__file__).resolve().parents[1]


def test_config_readme_is_what_the_generator_writes():
    doc = ROOT / params_doc.DOC
    current = doc.read_text()
    assert params_doc.MARKER in current, f"{params_doc.DOC} lacks the generated part's marker line"
    expected = params_doc.render_doc(current, ROOT / "params.yaml")
    assert current == expected, "config/README.md is out of date: run `crosspoint params-doc --write`"


def _missing_keys(data: dict, prefix: str, rows: dict[str, str]) -> list[str]:
    """Keys of a params.yaml mapping without a row; a nested section's keys are checked one by one."""
    missing = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if f"`{name}`" not in rows:
            missing.append(name)
        elif "(below)" in rows[f"`{name}`"]:
            missing += _missing_keys(value, f"{name}.", rows)
    return missing


def test_every_key_params_yaml_sets_has_a_row_with_its_value():
    text = params_doc.generated(ROOT / "params.yaml")
    params = load_params(ROOT / "params.yaml")
    for section in SECTIONS:
        block = text.split(f"### `{section}`", 1)[1].split("\n### ", 1)[0]
        rows = {line.split(" | ")[0][2:]: line for line in block.splitlines() if line.startswith("| `")}
        assert not _missing_keys(params[section], "", rows), section
    # a value params.yaml sets shows in the params.yaml column, the dataclass default beside it
    assert "| `cls.k` | int | 20 | 16 |" in text
    assert "| `camera` | ring \\| sphere \\| r2n2 | ring | ring |" in text


def test_yaml_comments_follow_nesting_and_continuation_lines():
    text = ("# header comment\n"
            "a:\n"
            "  b: 1  # one\n"
            "        # more of one\n"
            "  # a comment at the key's own level: not attached\n"
            "  c:  # a mapping\n"
            "    d: 'x # y'  # quoted hash kept\n"
            "e: 2\n")
    comments = params_doc.yaml_comments(text)
    assert comments == {"a": "", "a.b": "one more of one", "a.c": "a mapping", "a.c.d": "quoted hash kept", "e": ""}


def test_types_and_values_are_written_as_yaml_reads_them():
    from typing import Literal

    assert params_doc.type_text(Literal["fp32", "bf16"]) == "fp32 | bf16"
    assert params_doc.type_text(int | None) == "int or null"
    assert params_doc.type_text(tuple[float, float]) == "list[float, float]"
    assert params_doc.value_text({"a": (1, None), "b": True}) == "{a: [1, null], b: true}"


def test_field_comments_take_the_line_or_the_block_above():
    from crosspoint.rendering.views import Params

    comments = params_doc.field_comments(Params)
    assert comments["views"] == "views per object"
    assert comments["camera"].startswith("ring: even azimuths")


def test_write_and_check(tmp_path, capsys):
    from crosspoint import cli

    doc = tmp_path / "README.md"
    doc.write_text("# Intro kept\n")
    argv = ["params-doc", "--params", str(ROOT / "params.yaml"), "--doc", str(doc)]
    assert cli.main([*argv, "--write"]) == 0
    written = doc.read_text()
    assert written.startswith("# Intro kept\n\n" + params_doc.MARKER)
    assert cli.main([*argv, "--check"]) == 0
    doc.write_text(written.replace("| `views` |", "| `viewz` |"))
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--check"])
    assert exc.value.code == 1
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# Links in the documentation

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "config" / "README.md",
            *[p for p in (ROOT / "results" / "README.md", ROOT / "bench" / "README.md", ROOT / "tests" / "README.md",
                          ROOT / "CHANGELOG.md") if p.exists()]]


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a markdown file's headings (lower case, punctuation dropped, spaces -> -)."""
    out = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


@pytest.mark.parametrize("doc", _docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(doc):
    missing = []
    for target in _LINK.findall(doc.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # web links
        name, _, anchor = target.partition("#")
        path = (doc.parent / name).resolve() if name else doc
        if not path.exists():
            missing.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            missing.append(target)
    assert not missing, f"{doc.relative_to(ROOT)}: links to missing files or headings: {missing}"
