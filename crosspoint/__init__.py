"""CrossPoint: self-supervised cross-modal contrastive learning for point clouds, as a DVC/Snakemake pipeline."""

__version__ = "0.1.0"
