"""CrossPoint: self-supervised cross-modal contrastive learning for point clouds, as a DVC/Snakemake pipeline."""

from crosspoint import numerics as _numerics

# Before numpy or torch is imported anywhere in a stage process: pin the kernels and threads
# (crosspoint/numerics.py), so the same inputs give the same bits on every x86-64 CPU.
_numerics.pin()

__version__ = "0.1.0"
