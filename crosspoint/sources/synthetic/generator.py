"""The synthetic source's public API: the class tables, :class:`Params`, :class:`SyntheticSource`,
:func:`generate_object` and the class -> builder table (the package's docstring tells how objects are made)."""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from crosspoint.sources.base import MeshItem, MeshSource
from crosspoint.sources.synthetic.furniture import _bed, _bench, _bookshelf, _chair, _sofa, _stool, _table
from crosspoint.sources.synthetic.household import _bottle, _guitar, _lamp, _mug, _vase
from crosspoint.sources.synthetic.primitives import _deform, _Object
from crosspoint.sources.synthetic.vehicles import _airplane, _car, _rocket

# class -> its fixed part vocabulary (face_parts index into this list)
CLASS_PARTS: dict[str, list[str]] = {
    "airplane": ["fuselage", "wing", "tail", "engine"],
    "bed": ["frame", "mattress", "headboard", "leg", "pillow"],
    "bench": ["seat", "leg", "back"],
    "bookshelf": ["side", "shelf", "back"],
    "bottle": ["body", "neck", "cap"],
    "car": ["body", "cabin", "wheel"],
    "chair": ["seat", "back", "leg", "arm"],
    "guitar": ["body", "neck", "head"],
    "lamp": ["base", "stem", "shade"],
    "mug": ["body", "handle"],
    "rocket": ["body", "nose", "fin", "nozzle"],
    "sofa": ["seat", "back", "arm", "leg"],
    "stool": ["seat", "leg", "rung"],
    "table": ["top", "leg", "shelf"],
    "vase": ["body", "neck", "handle"],
}

# parts an object of the class may lack; every other part is present in every object
OPTIONAL_PARTS: dict[str, list[str]] = {
    "airplane": ["engine"],
    "bed": ["leg", "pillow"],
    "bench": ["back"],
    "bookshelf": ["back"],
    "bottle": ["cap"],
    "car": [],
    "chair": ["arm"],
    "guitar": [],
    "lamp": [],
    "mug": [],
    "rocket": ["nozzle"],
    "sofa": ["arm", "leg"],
    "stool": ["rung"],
    "table": ["shelf"],
    "vase": ["handle"],
}

CLASSES: list[str] = list(CLASS_PARTS)


@dataclass(frozen=True)
class Params:
    """``datasets.<name>`` entry of a synthetic dataset."""

    source: Literal["synthetic"] = "synthetic"
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    objects_per_class: int = 60
    test_fraction: float = 0.35  # the last round(test_fraction * n) objects of each class are "test"
    seed: int = 0
    deform: float = 0.15  # amplitude of the whole-object taper / twist / bend / stretch
    required: bool = True  # ignored: the generator is always available
    up_axis: Literal["y", "z"] = "y"  # the generator builds y-up objects; z would turn them (+z -> +y)
    heading: Literal["canonical", "random"] = "canonical"  # random: each mesh turned about up by a seeded angle

    def check(self) -> list[str]:
        problems = []
        unknown = [c for c in self.classes if c not in CLASS_PARTS]
        if unknown:
            problems.append(f"classes: unknown {', '.join(unknown)}; known: {', '.join(CLASSES)}")
        if not self.classes:
            problems.append("classes: give at least one class")
        if len(set(self.classes)) != len(self.classes):
            problems.append("classes: a class is listed twice")
        if self.objects_per_class < 1:
            problems.append("objects_per_class must be at least 1")
        if not 0.0 <= self.test_fraction < 1.0:
            problems.append("test_fraction must be in [0, 1)")
        if not 0.0 <= self.deform <= 0.5:
            problems.append("deform must be in [0, 0.5]")
        return problems


class SyntheticSource(MeshSource):
    """Yields ``objects_per_class`` generated objects of every selected class."""

    def __init__(self, params: Params):
        self.params = params
        self.class_names = list(params.classes)

    def __len__(self) -> int:
        return len(self.params.classes) * self.params.objects_per_class

    def items(self) -> Iterator[MeshItem]:
        p = self.params
        n_test = int(round(p.test_fraction * p.objects_per_class))
        for class_name in p.classes:
            for i in range(p.objects_per_class):
                split = "test" if i >= p.objects_per_class - n_test else "train"
                yield generate_object(class_name, i, p.seed, deform=p.deform, split=split)


def generate_object(class_name: str, index: int, seed: int, deform: float = 0.15,
                    split: str | None = None) -> MeshItem:
    """Object ``index`` of ``class_name``, the same for the same (seed, class, index)."""
    if class_name not in CLASS_PARTS:
        raise ValueError(f"unknown synthetic class {class_name!r}; known: {', '.join(CLASSES)}")
    rng = np.random.default_rng([seed, CLASSES.index(class_name), index])
    obj = _Object(CLASS_PARTS[class_name])
    _BUILDERS[class_name](obj, rng)
    vertices, faces, face_parts, instance = obj.concatenate()
    vertices = _deform(vertices, rng, deform)
    hues = rng.random(instance.max() + 1)
    sats = rng.uniform(0.3, 0.9, instance.max() + 1)
    vals = rng.uniform(0.45, 0.95, instance.max() + 1)
    palette = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sats, vals, strict=True)])
    face_colors = np.round(palette[instance] * 255).astype(np.uint8)
    object_id = f"{class_name}_{index:04d}"
    return MeshItem(
        object_id=object_id,
        class_name=class_name,
        split=split,
        vertices=vertices.astype(np.float32),
        faces=faces.astype(np.int32),
        face_parts=face_parts.astype(np.int16),
        part_names=list(CLASS_PARTS[class_name]),
        face_colors=face_colors,
        path=f"synthetic:{object_id}",
    )


_BUILDERS: dict[str, Callable[[_Object, np.random.Generator], None]] = {
    "airplane": _airplane,
    "bed": _bed,
    "bench": _bench,
    "bookshelf": _bookshelf,
    "bottle": _bottle,
    "car": _car,
    "chair": _chair,
    "guitar": _guitar,
    "lamp": _lamp,
    "mug": _mug,
    "rocket": _rocket,
    "sofa": _sofa,
    "stool": _stool,
    "table": _table,
    "vase": _vase,
}
