"""Point and image encoders, projection heads and the part-segmentation model.

Point encoders take ``[B, N, 3]`` float points and return a global feature ``[B, out_dim]``; image
encoders take normalised ``[B, 3, H, W]`` float images and return ``[B, out_dim]``. Every model has
an ``out_dim`` attribute, runs on whatever device its inputs and parameters are on, and is built
from scratch (no pretrained weights).

One module each: the encoders by name (:mod:`~crosspoint.models.registry`), DGCNN and its part-segmentation
model (:mod:`~crosspoint.models.dgcnn`), PointNet, ResNet, the projection heads (:mod:`~crosspoint.models.heads`),
kNN, the DGCNN's pinned CPU matmuls (:mod:`~crosspoint.models.blas`), the frozen encoders of checkpoints
(:mod:`~crosspoint.models.encoders`) and the exported-encoder file (:mod:`~crosspoint.models.export`).

This file holds no code: importing any module of the package runs it, so whatever it imported would become
a code dependency of every stage that uses one of them.
"""
