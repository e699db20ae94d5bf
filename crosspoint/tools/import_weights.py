"""``crosspoint import-weights SRC DEST --format F``: the authors' released weights as our checkpoint.

Upstream (MohamedAfham/CrossPoint, ``models/dgcnn.py``) saves bare ``state_dict()`` files of its
modules; this maps them, strictly, onto ours and writes DEST in the layout of pretrain's ``best.pt``
(so ``features`` and ``partseg`` take it through their ``checkpoint`` param):

- ``upstream-dgcnn``: ``DGCNN`` (EdgeConvs ``conv1..conv4``, ``conv5`` the 512 -> emb layer, each a
  (1x1 conv, BN, LeakyReLU) Sequential whose BN is also registered as ``bn1..bn5``; projection
  head ``inv_head``) -> :class:`~crosspoint.models.dgcnn.DGCNN` + point head;
- ``upstream-dgcnn-seg``: ``DGCNN_partseg`` pretraining layout (``transform_net``, ``conv1..conv6``,
  ``inv_head``) -> :class:`~crosspoint.models.dgcnn.DGCNNSeg` + point head. Its ``bn7..bn10`` belong to the
  fine-tuning head (absent from a pretraining checkpoint otherwise) and are skipped;
- ``upstream-resnet``: the image model ``ResNet`` (torchvision trunk ``resnet.*`` + ``inv_head``) ->
  :class:`~crosspoint.models.resnet.ResNet` + image head (also ``--image`` beside a point format).

Every upstream tensor must find its place and every one of ours must be filled, shapes checked (a
1x1 conv weight ``[O, I, 1(, 1)]`` becomes a Linear ``[O, I]``); the BN aliases must equal the
tensors they alias. Otherwise the command fails naming the missing, left-over or mismatched keys.
A ``module.`` prefix (DataParallel) is stripped, and a state dict wrapped in a dict
(``state_dict``, ``model_state_dict``, ``model``, ...) is unwrapped. Files load with
``weights_only=True``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from crosspoint.checkpoints import load_checkpoint, save_checkpoint
from crosspoint.store import StageError

log = logging.getLogger("crosspoint.tools.import_weights")

POINT_FORMATS = ("upstream-dgcnn", "upstream-dgcnn-seg")
FORMATS = (*POINT_FORMATS, "upstream-resnet")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "point_model", "img_model")
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Slot:
    """Where an upstream tensor goes: ``part`` (``point_encoder``, ...) and key there; ``conv`` is the
    number of trailing 1-sized dims upstream's 1x1 conv weight has beyond our Linear's (0, 1 or 2)."""

    part: str
    key: str
    conv: int = 0


@dataclass
class Layout:
    """An upstream layout: tensor slots, BN aliases (alias key -> the key it duplicates) and keys
    that are accepted and left unused."""

    slots: dict[str, Slot] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    unused: set[str] = field(default_factory=set)

    def bn(self, up: str, part: str, ours: str, alias: str | None = None) -> None:
        for s in BN_KEYS:
            self.slots[f"{up}.{s}"] = Slot(part, f"{ours}.{s}")
            if alias is not None:
                self.aliases[f"{alias}.{s}"] = f"{up}.{s}"

    def layer(self, up: str, part: str, ours: str, conv: int, alias: str | None = None) -> None:
        """A (1x1 conv, BN, act) Sequential ``up`` onto a :class:`LinearBNAct` ``ours``."""
        self.slots[f"{up}.0.weight"] = Slot(part, f"{ours}.linear.weight", conv)
        self.bn(f"{up}.1", part, f"{ours}.bn", alias)

    def head(self, up: str, part: str, bias: bool) -> None:
        """A (Linear, BN, ReLU, Linear) projection head; same indices on both sides."""
        for idx in (0, 3):
            names = ("weight", "bias") if bias else ("weight",)
            for s in names:
                self.slots[f"{up}.{idx}.{s}"] = Slot(part, f"{idx}.{s}")
        self.bn(f"{up}.1", part, "1")


def dgcnn_layout() -> Layout:
    """Upstream ``DGCNN`` (pretraining, no classifier) onto ``DGCNN`` + point head."""
    lay = Layout()
    for i in range(4):
        lay.layer(f"conv{i + 1}", "point_encoder", f"edges.{i}.layers.0", 2, alias=f"bn{i + 1}")
    lay.layer("conv5", "point_encoder", "embed", 1, alias="bn5")
    lay.head("inv_head", "point_head", bias=True)
    return lay


def dgcnn_seg_layout(keys: set[str]) -> Layout:
    """Upstream ``DGCNN_partseg`` (pretraining layout) onto ``DGCNNSeg`` + point head."""
    lay = Layout()
    t = "transform_net"
    lay.layer(f"{t}.conv1", "point_encoder", "transform.edge.layers.0", 2, alias=f"{t}.bn1")
    lay.layer(f"{t}.conv2", "point_encoder", "transform.edge.layers.1", 2, alias=f"{t}.bn2")
    lay.layer(f"{t}.conv3", "point_encoder", "transform.embed", 1)  # upstream rebinds bn3 to the 512 BN
    for i, bn in ((0, "bn3"), (1, "bn4")):
        lay.slots[f"{t}.linear{i + 1}.weight"] = Slot("point_encoder", f"transform.fc.{i}.linear.weight")
        lay.bn(f"{t}.{bn}", "point_encoder", f"transform.fc.{i}.bn")
    for s in ("weight", "bias"):
        lay.slots[f"{t}.transform.{s}"] = Slot("point_encoder", f"transform.out.{s}")
    for i, (edge, layer) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1), (2, 0))):
        lay.layer(f"conv{i + 1}", "point_encoder", f"edges.{edge}.layers.{layer}", 2, alias=f"bn{i + 1}")
    lay.layer("conv6", "point_encoder", "embed", 1, alias="bn6")
    lay.head("inv_head", "point_head", bias=True)
    # bn7..bn10 are registered even in the pretraining layout but used only by the fine-tuning
    # head conv7..conv10; without that head (which our checkpoint does not hold) they are unused.
    if not any(k.split(".")[0] in {f"conv{i}" for i in range(7, 12)} for k in keys):
        lay.unused = {f"bn{i}.{s}" for i in range(7, 11) for s in BN_KEYS}
    return lay


def resnet_layout(encoder: nn.Module) -> Layout:
    """Upstream ``ResNet`` (torchvision trunk as ``resnet.*``, fc removed, ``inv_head``) onto our
    :class:`~crosspoint.models.resnet.ResNet` (built as ``encoder``) + image head."""
    from crosspoint.models.resnet import Bottleneck

    lay = Layout()
    lay.slots["resnet.conv1.weight"] = Slot("image_encoder", "stem.0.weight")
    lay.bn("resnet.bn1", "image_encoder", "stem.1")
    for i, stage in enumerate(encoder.stages):
        for j, block in enumerate(stage):
            up, ours = f"resnet.layer{i + 1}.{j}", f"stages.{i}.{j}"
            for c in (1, 2, 3) if isinstance(block, Bottleneck) else (1, 2):
                lay.slots[f"{up}.conv{c}.weight"] = Slot("image_encoder", f"{ours}.conv{c}.0.weight")
                lay.bn(f"{up}.bn{c}", "image_encoder", f"{ours}.conv{c}.1")
            if isinstance(block.shortcut, nn.Sequential):
                lay.slots[f"{up}.downsample.0.weight"] = Slot("image_encoder", f"{ours}.shortcut.0.weight")
                lay.bn(f"{up}.downsample.1", "image_encoder", f"{ours}.shortcut.1")
    lay.head("inv_head", "image_head", bias=False)
    return lay


# ---------------------------------------------------------------------------------------------
# Reading upstream files


def upstream_state(obj: Any, what: str) -> dict[str, Tensor]:
    """The flat state dict in ``obj`` (bare or wrapped in a dict), without ``module.`` prefixes."""

    def flat(d: Any) -> bool:
        return isinstance(d, dict) and bool(d) and all(isinstance(v, Tensor) for v in d.values())

    if flat(obj):
        sd = obj
    else:
        inner = [k for k in WRAPPER_KEYS if isinstance(obj, dict) and flat(obj.get(k))]
        if not inner:
            top = sorted(map(str, obj))[:10] if isinstance(obj, dict) else type(obj).__name__
            raise StageError(f"{what}: no state dict of tensors found (top level: {top}); expected a "
                             f"state_dict() file or a dict with one of {', '.join(WRAPPER_KEYS)}")
        sd = obj[inner[0]]
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        name = str(key).removeprefix("module.")
        if name in out:
            raise StageError(f"{what}: key {name!r} appears both with and without the 'module.' prefix")
        out[name] = value
    return out


def _names(keys: list[str], limit: int = 8) -> str:
    """The first ``limit`` keys; when cut, also every top-level module among them all."""
    shown = ", ".join(keys[:limit])
    if len(keys) <= limit:
        return shown
    tops = sorted({k.split(".")[0] for k in keys})
    return f"{shown} ... ({len(keys)} in all, under {', '.join(tops)})"


def map_state(src: dict[str, Tensor], lay: Layout, targets: dict[str, dict[str, Tensor]],
              what: str) -> dict[str, dict[str, Tensor]]:
    """Place every tensor of ``src`` per ``lay`` into the parts' state dicts (``targets``: our
    modules' state dicts, giving the shapes). Raises StageError naming what does not fit."""
    expected = set(lay.slots) | set(lay.aliases)
    missing = sorted(k for k in expected if k not in src)
    extra = sorted(k for k in src if k not in expected and k not in lay.unused)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if extra:
            parts.append(f"left over {_names(extra)}")
        raise StageError(f"{what}: does not match the upstream layout: {'; '.join(parts)}")
    bad = []
    for alias, key in lay.aliases.items():
        if src[alias].shape != src[key].shape or not torch.equal(src[alias], src[key]):
            bad.append(f"{alias} differs from {key}")
    out: dict[str, dict[str, Tensor]] = {part: {} for part in targets}
    for up_key, slot in lay.slots.items():
        ours = targets[slot.part].get(slot.key)
        if ours is None:
            raise StageError(f"{what}: internal mapping error, {slot.part} has no key {slot.key!r}")
        want = tuple(ours.shape) + (1,) * slot.conv
        got = tuple(src[up_key].shape)
        if got != want:
            bad.append(f"{up_key}: shape {list(got)}, expected {list(want)}")
            continue
        out[slot.part][slot.key] = src[up_key].reshape(ours.shape)
    if bad:
        raise StageError(f"{what}: {_names(bad, 5)}")
    for part, sd in targets.items():
        unfilled = sorted(set(sd) - set(out[part]))
        if unfilled:
            raise StageError(f"{what}: internal mapping error, {part} keys left unfilled: {_names(unfilled)}")
    return out


def _load_into(module: nn.Module, sd: dict[str, Tensor], what: str) -> dict[str, Tensor]:
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise StageError(f"{what}: {' '.join(str(err).split())[:400]}") from err
    return module.state_dict()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Import


def import_point(src_path: Path, fmt: str, k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parts ``point_encoder``/``point_head`` as state dicts, partial model config) of an upstream
    point model file."""
    from crosspoint.models.heads import point_head
    from crosspoint.models.registry import build_point_encoder

    what = f"{src_path} ({fmt})"
    src = upstream_state(load_checkpoint(src_path), what)
    seg = fmt == "upstream-dgcnn-seg"
    emb_key = "conv6.0.weight" if seg else "conv5.0.weight"
    emb_dims = int(src[emb_key].shape[0]) if emb_key in src and src[emb_key].ndim >= 1 else 1024
    name = "dgcnn_seg" if seg else "dgcnn"
    encoder = build_point_encoder(name, k=k, emb_dims=emb_dims)
    head = point_head(encoder.out_dim, hidden=emb_dims)
    lay = dgcnn_seg_layout(set(src)) if seg else dgcnn_layout()
    parts = map_state(src, lay, {"point_encoder": encoder.state_dict(), "point_head": head.state_dict()}, what)
    skipped = sorted(key for key in src if key in lay.unused)
    if skipped:
        log.info("import-weights: %d tensors of upstream's unused fine-tuning BNs skipped (%s ...)",
                 len(skipped), skipped[0])
    out = {"point_encoder": _load_into(encoder, parts["point_encoder"], f"{what} point_encoder"),
           "point_head": _load_into(head, parts["point_head"], f"{what} point_head")}
    log.info("import-weights: %s: %d upstream tensors placed (%d BN aliases checked)", src_path,
             len(lay.slots), len(lay.aliases))
    return out, {"point_model": name, "k": k, "emb_dims": emb_dims}


def import_image(src_path: Path) -> tuple[dict[str, Any], str]:
    """(parts ``image_encoder``/``image_head``, image model name) of an upstream image model file."""
    from crosspoint.models.heads import image_head
    from crosspoint.models.registry import build_image_encoder

    what = f"{src_path} (upstream-resnet)"
    src = upstream_state(load_checkpoint(src_path), what)
    name = "resnet50" if "resnet.layer1.0.conv3.weight" in src else "resnet18"
    encoder = build_image_encoder(name)
    head = image_head(encoder.out_dim)
    lay = resnet_layout(encoder)
    parts = map_state(src, lay, {"image_encoder": encoder.state_dict(), "image_head": head.state_dict()}, what)
    log.info("import-weights: %s: %s, %d upstream tensors placed", src_path, name, len(lay.slots))
    return {"image_encoder": _load_into(encoder, parts["image_encoder"], f"{what} image_encoder"),
            "image_head": _load_into(head, parts["image_head"], f"{what} image_head")}, name


def import_weights(src: str | Path, dest: str | Path, fmt: str, *, image: str | Path | None = None,
                   k: int | None = None, points: int = 2048) -> dict[str, Any]:
    """Convert upstream ``src`` (and optionally an upstream image model ``image``) into our checkpoint
    ``dest`` (written atomically); returns the checkpoint."""
    if fmt not in FORMATS:
        raise StageError(f"import-weights: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    src = Path(src)
    for path in (src, image):
        if path is not None and not Path(path).is_file():
            raise StageError(f"import-weights: {path}: file not found")
    if fmt == "upstream-resnet" and image is not None:
        raise StageError("import-weights: --image goes with a point format; SRC is already the image model")
    if k is not None and k < 1:
        raise StageError("import-weights: --k must be positive")
    ckpt: dict[str, Any] = {"point_encoder": None, "point_head": None, "image_encoder": None, "image_head": None}
    model: dict[str, Any] = {"point_model": None, "k": None, "emb_dims": None, "image_model": None, "points": points}
    sources = {"format": fmt, "source": str(src), "sha256": _sha256(src)}
    if fmt in POINT_FORMATS:
        seg = fmt == "upstream-dgcnn-seg"
        parts, cfg = import_point(src, fmt, k if k is not None else (40 if seg else 20))
        ckpt |= parts
        model |= cfg
    image_path = src if fmt == "upstream-resnet" else (Path(image) if image is not None else None)
    if image_path is not None:
        parts, name = import_image(image_path)
        ckpt |= parts
        model["image_model"] = name
        if image_path != src:
            sources |= {"image_source": str(image_path), "image_sha256": _sha256(image_path)}
    variant = {"dgcnn": "cls", "dgcnn_seg": "seg"}.get(model["point_model"])
    ckpt |= {"model": model, "epoch": 0, "val_accuracy": float("nan"), "variant": variant, "params": {},
             "imported": sources}
    save_checkpoint(dest, ckpt)
    log.info("import-weights: wrote %s (%s)", dest, ", ".join(f"{key}={v}" for key, v in model.items()))
    return ckpt


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="upstream state_dict file (.pth / .t7)")
    parser.add_argument("dest", help="checkpoint to write, in pretrain's best.pt layout")
    parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt",
                        help="upstream model in SRC")
    parser.add_argument("--image", default=None, metavar="PATH",
                        help="also import this upstream ResNet image model (with a point format)")
    parser.add_argument("--k", type=int, default=None,
                        help="neighbours the encoder uses (default: upstream's, 20 for dgcnn, 40 for seg)")
    parser.add_argument("--points", type=int, default=2048,
                        help="points per cloud it was pretrained on (recorded only; upstream: 2048)")


def main(args: argparse.Namespace) -> None:
    import_weights(args.src, args.dest, args.fmt, image=args.image, k=args.k, points=args.points)


__all__ = ["FORMATS", "dgcnn_layout", "dgcnn_seg_layout", "import_weights", "resnet_layout", "upstream_state"]
