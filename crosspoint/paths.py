"""Where each stage reads and writes. The pipeline definition and the stages both use these, so a
path is spelled in one place only. All paths are relative to the repository root."""

from __future__ import annotations

DATA = "data"
MODELS = "models"
RESULTS = "results"


def prepared(dataset: str) -> str:
    """Mesh store (or point store, for point sources) made by the prepare stage."""
    return f"{DATA}/prepared/{dataset}.h5"


def prepared_rejects(dataset: str) -> str:
    return f"{DATA}/prepared/{dataset}_rejects.csv"


def download_dir(dataset: str) -> str:
    """Where downloading sources keep their archives and extracted trees (outside the DVC outputs)."""
    return f"{DATA}/downloads/{dataset}"


def points(dataset: str) -> str:
    """Point store made by the sample stage (or the scan stage for ``<dataset>_scan``)."""
    return f"{DATA}/points/{dataset}.h5"


def points_rejects(dataset: str) -> str:
    return f"{DATA}/points/{dataset}_rejects.csv"


def points_shard(dataset: str, shard: int | str) -> str:
    """One shard of a sampled point store (merged into ``points(dataset)`` by merge-points)."""
    return f"{DATA}/points/shards/{dataset}/shard-{shard}.h5"


def points_shard_rejects(dataset: str, shard: int | str) -> str:
    return f"{DATA}/points/shards/{dataset}/shard-{shard}_rejects.csv"


def features_shard(dataset: str, shard: int | str, seed: int | str) -> str:
    """One shard of a features file (merged into ``features(dataset, seed)`` by merge-features)."""
    return f"{DATA}/features/shards/{dataset}/seed-{seed}/shard-{shard}.h5"


def render_shard(dataset: str, shard: int | str) -> str:
    """One shard of the views of a pretraining dataset (merged into ``views(dataset)`` by merge-views)."""
    return f"{DATA}/render/{dataset}/shard-{shard}.h5"


def render_rejects(dataset: str, shard: int | str) -> str:
    return f"{DATA}/render/{dataset}/shard-{shard}_rejects.csv"


def views(dataset: str) -> str:
    """Merged view store of a pretraining dataset (outside data/render, which holds the shards)."""
    return f"{DATA}/views/{dataset}.h5"


def contact_sheet(dataset: str) -> str:
    return f"{RESULTS}/figures/contact_sheet/{dataset}.png"


def pretrain_dir(variant: str, seed: int | str) -> str:
    """Checkpoints of a pretraining run: ``cls`` (the classification encoder) or ``seg`` (part-seg
    encoder), one run per seed of ``pretrain.seeds``."""
    return f"{MODELS}/pretrain_{variant}/seed-{seed}"


def best_checkpoint(variant: str, seed: int | str) -> str:
    """The pretraining run's checkpoint of its best validation epoch: what the evaluations load."""
    return f"{pretrain_dir(variant, seed)}/best.pt"


def snapshots(variant: str, seed: int | str) -> str:
    """The point encoder after each epoch of ``pretrain.<variant>.snapshots`` (empty when none)."""
    return f"{pretrain_dir(variant, seed)}/snapshots.pt"


def last_checkpoint(variant: str, seed: int | str) -> str:
    """The pretraining run's whole state after its last epoch (a killed run resumes from it)."""
    return f"{pretrain_dir(variant, seed)}/last.pt"


def encoder_checkpoint(variant: str, seed: int | str, override: str | None = None) -> str:
    """The checkpoint an evaluation loads: ``override`` (a section's ``checkpoint``, e.g. the authors'
    weights from ``crosspoint import-weights``) when set, else :func:`best_checkpoint`."""
    return override if override is not None else best_checkpoint(variant, seed)


def pretrain_live(variant: str, seed: int | str) -> str:
    """DVCLive directory (metrics.json, plots) of a pretraining run."""
    return f"{RESULTS}/pretrain_{variant}/seed-{seed}"


def features(dataset: str, seed: int | str) -> str:
    """Frozen features of a dataset by the encoder pretrained with ``seed`` (and its random init)."""
    return f"{DATA}/features/{dataset}/seed-{seed}.h5"


def partseg_metrics(seed: int | str) -> str:
    return f"{RESULTS}/metrics/partseg/seed-{seed}.json"


def partseg_state(seed: int | str) -> str:
    """The part-segmentation fine-tuning state after its last epoch (a killed run resumes from it)."""
    return f"{MODELS}/partseg/seed-{seed}/last.pt"


def partseg_curves(seed: int | str) -> str:
    return f"{RESULTS}/plots/partseg_curves/seed-{seed}.csv"


def partseg_examples(seed: int | str) -> str:
    return f"{RESULTS}/figures/partseg_examples/seed-{seed}.png"


def metrics(name: str) -> str:
    return f"{RESULTS}/metrics/{name}.json"


def plots(name: str) -> str:
    return f"{RESULTS}/plots/{name}"


def figures(name: str) -> str:
    return f"{RESULTS}/figures/{name}"


def tables(name: str) -> str:
    return f"{RESULTS}/tables/{name}"
