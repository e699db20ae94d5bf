"""params validation: clear one-line errors for unknown keys, wrong types and bad values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from crosspoint.config import ParamsError, load_params, parse_section


@dataclass(frozen=True)
class Inner:
    lr: float = 0.1


@dataclass(frozen=True)
class Example:
    name: str = "x"
    count: int = 3
    ratio: float = 0.5
    flag: bool = False
    mode: Literal["ring", "sphere"] = "ring"
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    pair: tuple[float, float] = (0.0, 1.0)
    maybe: int | None = None
    inner: Inner = field(default_factory=Inner)

    def check(self) -> list[str]:
        return ["count must be > 0"] if self.count <= 0 else []


def test_defaults_and_coercion():
    p = parse_section(Example, {"ratio": 1, "pair": [2, 3], "inner": {"lr": 1}}, "ex")
    assert p.ratio == 1.0 and isinstance(p.ratio, float)
    assert p.pair == (2.0, 3.0)
    assert p.inner.lr == 1.0
    assert p.count == 3 and p.sizes == [1, 2]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cuont": 3}, "unknown key(s) cuont"),
        ({"count": "3"}, "ex.count: expected an integer"),
        ({"count": True}, "ex.count: expected an integer"),
        ({"flag": "yes"}, "ex.flag: expected true or false"),
        ({"mode": "cube"}, "ex.mode: expected one of 'ring', 'sphere'"),
        ({"sizes": [1, "a"]}, "ex.sizes[1]: expected an integer"),
        ({"pair": [1]}, "ex.pair: expected 2 values"),
        ({"inner": {"lr": "fast"}}, "ex.inner.lr: expected a number"),
        ({"count": 0}, "count must be > 0"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_errors_name_the_key(raw, message):
    with pytest.raises(ParamsError) as err:
        parse_section(Example, raw, "ex")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_optional_accepts_none():
    assert parse_section(Example, {"maybe": None}, "ex").maybe is None
    assert parse_section(Example, {"maybe": 4}, "ex").maybe == 4


def test_load_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="no such params file"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
