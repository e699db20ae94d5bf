"""The ``pretrain`` section of params.yaml: the shared settings and the two variants (``cls``, ``seg``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from crosspoint.store import StageError
from crosspoint.training.augment import ImageAugment, PointAugment

VARIANTS = ("cls", "seg")


# ---------------------------------------------------------------------------------------------
# Params


@dataclass(frozen=True)
class Variant:
    """Per-variant knobs: the encoder architecture and the amount of training."""

    point_model: str = "dgcnn"  # dgcnn | dgcnn_seg | pointnet
    k: int = 20  # DGCNN neighbours
    emb_dims: int = 1024  # width of the last point-encoder layer
    points: int = 1024  # points per cloud (a random subset of the stored ones, per object and epoch)
    image_model: str = "resnet18"  # resnet18 | resnet50
    image_size: int = 0  # image side fed to the image encoder; 0 = as rendered
    epochs: int = 10
    batch_size: int = 32  # per process
    # epochs after which the point encoder is also kept in snapshots.pt (the gain-against-steps curve)
    snapshots: list[int] = field(default_factory=list)

    def check(self) -> list[str]:
        problems = []
        if self.k < 1:
            problems.append("k must be positive")
        if self.emb_dims < 1:
            problems.append("emb_dims must be positive")
        if self.points < max(self.k, 2):
            problems.append("points must be at least k (and 2)")
        if self.image_size < 0:
            problems.append("image_size must be 0 (as rendered) or positive")
        if self.epochs < 1:
            problems.append("epochs must be at least 1")
        if self.batch_size < 2:
            problems.append("batch_size must be at least 2 (contrastive negatives come from the batch)")
        if len(set(self.snapshots)) != len(self.snapshots) or any(not 1 <= e <= self.epochs for e in self.snapshots):
            problems.append(f"snapshots must list distinct epochs in [1, epochs = {self.epochs}]")
        return problems


@dataclass(frozen=True)
class Params:
    # the pretraining objects: the train split of every point store paths.points(d), each matched by object_id
    # to its own views paths.views(d); labelled or not (a mesh_folder dataset has no labels)
    datasets: list[str] = field(default_factory=lambda: ["synth"])
    seeds: list[int] = field(default_factory=lambda: [0])  # one run per seed (an axis of the DAG)
    cls: Variant = Variant()
    seg: Variant = Variant(point_model="dgcnn_seg")
    lr: float = 1e-3  # Adam
    weight_decay: float = 1e-6
    temperature: float = 0.1  # NT-Xent
    w_imid: float = 1.0  # intra-modal (point-point) loss weight; 0 = CMID only
    w_cmid: float = 1.0  # cross-modal (point-image) loss weight; 0 = IMID only (no image branch)
    val_fraction: float = 0.2  # share of each class of the training objects held out for model selection
    val_every: int = 1  # epochs between validations (the last epoch is always validated)
    # what chooses best.pt: accuracy (a classifier on the frozen features; every dataset labelled, 2+ classes),
    # retrieval (cross-modal top-1: held-out objects' point embeddings finding their own view's; needs images),
    # auto (accuracy when every pretraining dataset is labelled, else retrieval)
    selection: Literal["auto", "accuracy", "retrieval"] = "auto"
    val_retrieval_max: int = 1000  # at most this many held-out objects in the retrieval criterion (seeded); 0 = all
    val_classifier: Literal["svm", "knn"] = "svm"
    svm_c: float = 0.01  # linear SVM C on the global features
    knn_k: int = 5
    val_batch_size: int = 64  # feature extraction batch
    val_max_fit: int = 0  # at most this many fitting objects for the validation classifier (stratified); 0 = all
    workers: int = 2  # DataLoader workers per process (does not change the result)
    sync_bn: bool = True  # SyncBatchNorm under torchrun with several GPU processes
    global_negatives: bool = True  # under torchrun, NT-Xent negatives from every process's batch
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast of the encoders on the training device
    point_augment: PointAugment = field(default_factory=PointAugment)
    image_augment: ImageAugment = field(default_factory=ImageAugment)

    def check(self) -> list[str]:
        problems = []
        if self.lr <= 0:
            problems.append("lr must be positive")
        if self.weight_decay < 0:
            problems.append("weight_decay must be non-negative")
        if self.temperature <= 0:
            problems.append("temperature must be positive")
        if self.w_imid < 0 or self.w_cmid < 0 or self.w_imid + self.w_cmid == 0:
            problems.append("w_imid and w_cmid must be non-negative and not both 0")
        if not 0.0 <= self.val_fraction <= 0.5:
            problems.append("val_fraction must be in [0, 0.5]")
        if self.val_every < 1:
            problems.append("val_every must be at least 1")
        if self.svm_c <= 0:
            problems.append("svm_c must be positive")
        if self.knn_k < 1:
            problems.append("knn_k must be positive")
        if self.val_batch_size < 1:
            problems.append("val_batch_size must be positive")
        if self.val_retrieval_max < 0:
            problems.append("val_retrieval_max must be 0 (all held-out objects) or positive")
        if not self.datasets or len(set(self.datasets)) != len(self.datasets):
            problems.append("datasets must list at least one dataset, each once")
        if self.val_max_fit < 0:
            problems.append("val_max_fit must be 0 (all fitting objects) or positive")
        if self.workers < 0:
            problems.append("workers must be non-negative")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            problems.append("seeds must list distinct non-negative seeds (at least one)")
        return problems

    def variant(self, name: str) -> Variant:
        if name not in VARIANTS:
            raise StageError(f"unknown pretraining variant {name!r}; use one of {', '.join(VARIANTS)}")
        return getattr(self, name)
