"""The encoders by name, as params.yaml and checkpoints name them: :func:`build_point_encoder` and
:func:`build_image_encoder`, built from scratch (no pretrained weights)."""

from __future__ import annotations

from torch import nn

from crosspoint.models.dgcnn import DGCNN, DGCNNSeg
from crosspoint.models.pointnet import PointNet
from crosspoint.models.resnet import resnet18, resnet50

POINT_MODELS = ("dgcnn", "dgcnn_seg", "pointnet")
IMAGE_MODELS = ("resnet18", "resnet50")


def build_point_encoder(name: str, *, k: int = 20, emb_dims: int = 1024) -> nn.Module:
    """Point encoder by name: ``dgcnn`` (out_dim ``2*emb_dims``, max || avg), ``dgcnn_seg`` (``emb_dims``,
    global max; the part-segmentation layout) or ``pointnet`` (``emb_dims``; ``k`` unused)."""
    if name == "dgcnn":
        return DGCNN(k=k, emb_dims=emb_dims)
    if name == "dgcnn_seg":
        return DGCNNSeg(k=k, emb_dims=emb_dims)
    if name == "pointnet":
        return PointNet(emb_dims=emb_dims)
    raise ValueError(f"unknown point model {name!r}; choose one of {', '.join(POINT_MODELS)}")


def build_image_encoder(name: str) -> nn.Module:
    """Image encoder by name: ``resnet18`` (out_dim 512) or ``resnet50`` (out_dim 2048), random init."""
    if name == "resnet18":
        return resnet18()
    if name == "resnet50":
        return resnet50()
    raise ValueError(f"unknown image model {name!r}; choose one of {', '.join(IMAGE_MODELS)}")
