"""Point and image encoders, projection heads and the part-segmentation model.

Point encoders take ``[B, N, 3]`` float points and return a global feature ``[B, out_dim]``; image
encoders take normalised ``[B, 3, H, W]`` float images and return ``[B, out_dim]``. Every model has
an ``out_dim`` attribute, runs on whatever device its inputs and parameters are on, and is built
from scratch (no pretrained weights).
"""

from __future__ import annotations

from torch import nn

from crosspoint.models.dgcnn import (
    DGCNN,
    SEG_HEAD_PREFIXES,
    DGCNNSeg,
    EdgeConv,
    PartSegModel,
    use_direct_edgeconv,
)
from crosspoint.models.heads import PROJ_DIM, image_head, point_head
from crosspoint.models.knn import knn
from crosspoint.models.pointnet import PointNet
from crosspoint.models.resnet import ResNet, resnet18, resnet50

POINT_MODELS = ("dgcnn", "dgcnn_seg", "pointnet")
IMAGE_MODELS = ("resnet18", "resnet50")

__all__ = [
    "DGCNN",
    "DGCNNSeg",
    "EdgeConv",
    "IMAGE_MODELS",
    "POINT_MODELS",
    "PROJ_DIM",
    "PartSegModel",
    "PointNet",
    "ResNet",
    "SEG_HEAD_PREFIXES",
    "build_image_encoder",
    "build_point_encoder",
    "image_head",
    "knn",
    "point_head",
    "use_direct_edgeconv",
]


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
