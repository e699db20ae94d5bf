"""CrossPoint: self-supervised cross-modal contrastive learning for point clouds, as a DVC/Snakemake pipeline."""

from crosspoint import numerics as _numerics

# Before numpy or torch is imported anywhere in a stage process: pin the kernels and threads
# (crosspoint/numerics.py), so the same inputs give the same bits on every x86-64 CPU.
_numerics.pin()

__version__ = "0.1.0"


def load_encoder(path, map_location="cpu"):
    """The point encoder of a ``crosspoint export`` file or a pretraining checkpoint, ready (eval mode);
    ``encoder(points [B, N, 3]) -> [B, out_dim]``; see :func:`crosspoint.models.encoders.load_point_encoder`
    (imported here only when called: it loads torch)."""
    from crosspoint.models.encoders import load_point_encoder

    return load_point_encoder(path, map_location=map_location)[0]
