"""``shapenetcore``: a local ShapeNetCore v2 folder (``<synset>/<model>/models/model_normalized.obj``).

ShapeNet's terms of use forbid redistribution, so the data is never downloaded automatically: a
user who has accepted the terms points ``path`` at their copy. Classes are the 55 synsets, named
as in :data:`crosspoint.sources.synsets.SYNSETS` and ordered by synset id. The split is read from a split CSV when given
(ShapeNet's ``all.csv`` columns ``synsetId``, ``modelId``, ``split``; ``val`` counts as train),
otherwise it is a deterministic stratified one.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crosspoint.sources.base import Reject, data_missing
from crosspoint.sources.helpers import natural_key
from crosspoint.sources.mesh_files import (
    MAX_FACES,
    Entry,
    MeshFilesSource,
    assign_missing_splits,
    check_max_faces,
    file_problem,
)
from crosspoint.sources.synsets import SYNSETS
from crosspoint.store import StageError

log = logging.getLogger("crosspoint.sources.prepare")

NAME_TO_SYNSET = {name: sid for sid, name in SYNSETS.items()}
MODEL_FILE = Path("models") / "model_normalized.obj"
DOWNLOAD_HELP = (
    "ShapeNet's licence forbids automatic download: accept the terms at https://shapenet.org (or the "
    "ShapeNet/ShapeNetCore dataset on Hugging Face), get ShapeNetCore.v2, unpack it"
)


@dataclass(frozen=True)
class Params:
    source: Literal["shapenetcore"]
    path: str  # the folder holding the synset folders (02691156/, 02747177/, ...)
    categories: list[str] | None = None  # subset by name ("chair") or synset id; None: all found
    max_per_class: int | None = None  # at most this many models per category (first by model id)
    split_csv: str | None = None  # ShapeNet's all.csv (synsetId, modelId, split); None: stratified split
    test_fraction: float = 0.2
    seed: int = 0
    required: bool = True  # false: a missing folder gives an empty, skipped dataset
    up_axis: Literal["y", "z"] = "y"  # ShapeNetCore v2 is y-up
    heading: Literal["canonical", "random"] = "canonical"  # random: each mesh turned about up by a seeded angle
    max_faces: int | None = MAX_FACES  # meshes with more faces are rejected (OBJ states no count: checked once loaded)

    def check(self) -> list[str]:
        problems = check_max_faces(self.max_faces)
        for c in self.categories or []:
            if c not in SYNSETS and c not in NAME_TO_SYNSET:
                problems.append(f"unknown category {c!r} (a ShapeNetCore name such as 'chair' or a synset id)")
        if not 0.0 <= self.test_fraction < 1.0:
            problems.append(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.max_per_class is not None and self.max_per_class < 1:
            problems.append(f"max_per_class must be at least 1, got {self.max_per_class}")
        return problems

    def synsets(self) -> list[str] | None:
        if self.categories is None:
            return None
        return sorted(c if c in SYNSETS else NAME_TO_SYNSET[c] for c in self.categories)


def read_split_csv(path: Path) -> dict[tuple[str, str], str]:
    """(synset id, model id) -> "train"/"test" from a ShapeNet split CSV."""
    if not path.exists():
        raise StageError(f"split CSV {path} not found; fix the dataset's split_csv param or remove it")
    out = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"synsetId", "modelId", "split"}
        if not need <= set(reader.fieldnames or []):
            raise StageError(f"{path}: a split CSV needs the columns {', '.join(sorted(need))}")
        for row in reader:
            split = row["split"].strip().lower()
            out[(row["synsetId"].strip().zfill(8), row["modelId"].strip())] = "test" if split == "test" else "train"
    return out


class ShapeNetCoreSource(MeshFilesSource):
    """ShapeNetCore v2 meshes from a local copy (found here, loaded by :class:`MeshFilesSource`)."""

    def __init__(self, params: Params, name: str = "shapenetcore"):
        super().__init__(params, name)
        self._skip: str | None = None

    def ensure_available(self) -> str | None:
        root = Path(self.params.path)
        if not root.is_dir():
            self._skip = data_missing(
                self.name, self.params.required, f"ShapeNetCore v2 not found at {root} (cwd {Path.cwd()})",
                f"{DOWNLOAD_HELP} and set datasets.{self.name}.path to the folder holding the synset folders",
                warn=self._skip is None,
            )
            return self._skip
        self.entries()
        return None

    def entries(self) -> list[Entry]:
        if self._entries is not None:
            return self._entries
        root = Path(self.params.path)
        wanted = self.params.synsets()
        present = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name in SYNSETS)
        synsets = [s for s in present if wanted is None or s in wanted]
        if wanted is not None and len(synsets) < len(wanted):
            missing = [f"{s} ({SYNSETS[s]})" for s in wanted if s not in present]
            raise StageError(f"{root}: categories {', '.join(missing)} not found; fix datasets.{self.name}.categories")
        if not synsets:
            raise StageError(f"{root}: no ShapeNetCore synset folders (such as 02691156/) found. {DOWNLOAD_HELP}")
        split_of = read_split_csv(Path(self.params.split_csv)) if self.params.split_csv else {}
        entries = []
        for sid in synsets:
            models = sorted((d for d in (root / sid).iterdir() if d.is_dir()), key=lambda d: natural_key(d.name))
            if self.params.max_per_class is not None:
                models = models[: self.params.max_per_class]
            for model in models:
                f = model / MODEL_FILE
                if not f.exists():
                    self._rejects.append(Reject(str(model), f"no {MODEL_FILE.as_posix()} in this model folder"))
                    continue
                problem = file_problem(f)
                if problem is not None:
                    self._rejects.append(Reject(str(f), problem))
                    continue
                entries.append(Entry(
                    object_id=f"{sid}/{model.name}", class_name=SYNSETS[sid],
                    split=split_of.get((sid, model.name)), path=f,
                ))
        assign_missing_splits(entries, self.params.test_fraction, self.params.seed)
        self.class_names = [SYNSETS[s] for s in synsets]
        self._entries = entries
        return entries

