"""The params dataclasses of the evaluation stages (``features``, ``linear_svm``, ``steps``, ``fewshot``, ``partseg``), in
a module that imports nothing heavy: the stages that only read these settings (merge-features, report) then
depend on no network, training or evaluation code. Each stage module re-exports its section as ``Params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from crosspoint.shards import shards_problems


@dataclass(frozen=True)
class FeaturesParams:
    """The ``features`` section (and merge-features)."""

    datasets: list[str] = field(default_factory=lambda: ["synth", "synth_scan", "capod"])
    shards: list[int] = field(default_factory=lambda: [0])  # [0, 1, ..., S-1]: one features job per shard
    points: int = 256  # points per object fed to the encoder (paper: 1024)
    subset: Literal["random", "first"] = "random"  # which stored points: seeded random subset or the first
    batch_size: int = 32
    seed: int = 0  # point subset (the random-init encoder comes from the pretraining seed)
    device: str = "auto"
    checkpoint: str | None = None  # encoder checkpoint (e.g. from import-weights); null: pretrain's best.pt

    def check(self) -> list[str]:
        problems = shards_problems(self.shards)
        if self.checkpoint is not None and not self.checkpoint.strip():
            problems.append("checkpoint must be a path or null")
        if self.points < 16:
            problems.append("points must be at least 16")
        if self.batch_size < 1:
            problems.append("batch_size must be positive")
        if not self.datasets:
            problems.append("datasets must name at least one dataset")
        return problems


@dataclass(frozen=True)
class LinearSvmParams:
    """The ``linear_svm`` section."""

    datasets: list[str] = field(default_factory=lambda: ["synth", "synth_scan", "capod"])
    c_paper: float = 0.01
    c_grid: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0])
    c_folds: int = 5  # cross-validation folds of the train objects, for choosing C
    seed: int = 0
    max_iter: int = -1  # SVC's iteration cap (-1: none)
    c_search_rows: int = 0  # at most this many train rows in the C search (stratified, seeded); 0 = all

    def check(self) -> list[str]:
        problems = []
        if self.c_paper <= 0 or any(c <= 0 for c in self.c_grid):
            problems.append("c_paper and every c_grid value must be positive")
        if not self.c_grid:
            problems.append("c_grid must list at least one C")
        if self.c_folds < 2:
            problems.append("c_folds must be at least 2")
        if self.c_search_rows < 0:
            problems.append("c_search_rows must be 0 (all train rows) or positive")
        return problems


@dataclass(frozen=True)
class StepsParams:
    """The ``steps`` section: datasets scored at every pretraining snapshot (``pretrain.cls.snapshots``)."""

    datasets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FewshotParams:
    """The ``fewshot`` section."""

    datasets: list[str] = field(default_factory=lambda: ["synth", "synth_scan", "capod_scan"])
    settings: list[tuple[int, int]] = field(default_factory=lambda: [(5, 10), (5, 20), (10, 10), (10, 20)])
    runs: int = 10
    queries: int = 20  # per class
    query_split: Literal["test", "train_upstream"] = "test"
    c: float = 1.0
    seed: int = 0  # episodes (and, with features: own, the point subset)
    # shared: the features stage's files (features.points, the checkpoint's k) | own: extracted here
    features: Literal["shared", "own"] = "shared"
    # with features: own only
    points: int = 1024  # per object, a subset of the stored points (upstream: all 2048)
    subset: Literal["random", "first"] = "random"
    k: int | None = None  # DGCNN neighbours at extraction; null: the checkpoint's (upstream: 5)
    batch_size: int = 32
    device: str = "auto"
    checkpoint: str | None = None  # null: pretrain's cls best.pt; or a checkpoint from `crosspoint import-weights`

    def check(self) -> list[str]:
        problems = []
        if self.features not in ("shared", "own"):
            problems.append(f"features must be shared or own, got {self.features!r}")
        if self.points < 16 or self.batch_size < 1:
            problems.append("points must be at least 16 and batch_size positive")
        if self.k is not None and not 1 <= self.k <= self.points:
            problems.append("k must be null or lie in [1, points]")
        if self.checkpoint is not None and not self.checkpoint.strip():
            problems.append("checkpoint must be a path or null")
        if not self.datasets:
            problems.append("datasets must name at least one dataset")
        if any(w < 2 or s < 1 for w, s in self.settings):
            problems.append("each setting is [way >= 2, shot >= 1]")
        if self.runs < 1 or self.queries < 1:
            problems.append("runs and queries must be positive")
        if self.c <= 0:
            problems.append("c must be positive")
        return problems


@dataclass(frozen=True)
class PartsegParams:
    """The ``partseg`` section."""

    dataset: str = "synth"
    epochs: int = 10  # paper: 300
    batch_size: int = 8
    points: int = 128  # per shape, a subset of the stored cloud (paper: 2048)
    k: int = 16  # neighbours in the fine-tuned DGCNN (paper: 40)
    dropout: float = 0.5
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_min: float = 1e-3  # cosine schedule floor
    label_smoothing: float = 0.2
    augment: bool = True  # random anisotropic scale and shift of training shapes (DGCNN practice); false: upstream
    argmax: Literal["category", "all"] = "category"  # prediction over the category's parts, or all parts (upstream)
    max_train: int = 150  # train shapes used (class-balanced subset); 0 = all (paper)
    max_test: int = 150  # test shapes scored (class-balanced subset); 0 = all (paper)
    val_fraction: float = 0.1  # of train, for choosing the epoch; 0 = keep the last epoch
    examples: int = 4  # test shapes drawn in the figure
    seed: int = 0  # the shapes used (subsets, validation split); training draws from the pretraining seed
    device: str = "auto"
    checkpoint: str | None = None  # seg encoder checkpoint (e.g. from import-weights); null: pretrain's best.pt

    def check(self) -> list[str]:
        problems = []
        if self.checkpoint is not None and not self.checkpoint.strip():
            problems.append("checkpoint must be a path or null")
        if self.epochs < 1 or self.batch_size < 1:
            problems.append("epochs and batch_size must be positive")
        if self.points < self.k or self.k < 1:
            problems.append("need 1 <= k <= points")
        if not 0 <= self.val_fraction < 1:
            problems.append("val_fraction must lie in [0, 1)")
        if self.argmax not in ("category", "all"):
            problems.append(f"argmax must be category or all, got {self.argmax!r}")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.dropout < 1:
            problems.append("label_smoothing and dropout must lie in [0, 1)")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            problems.append("need 0 <= lr_min <= lr and lr > 0")
        return problems


def setting_name(way: int, shot: int) -> str:
    return f"{way}w{shot}s"
