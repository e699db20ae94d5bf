"""The report's figures: t-SNE of test features, the linear SVM's confusion matrix, pretraining and
part-segmentation curves, the gain against pretraining steps (Matplotlib, Agg)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from crosspoint import paths
from crosspoint.feature_files import read_features
from crosspoint.reporting.rows import Params
from crosspoint.store import StageError, atomic_path
from crosspoint.subsets import balanced_subset

# Figures


def save_figure(fig: Any, dest: str | Path, dpi: int = 90) -> None:
    """Write a matplotlib figure as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def _placeholder(dest: str | Path, text: str) -> None:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(5, 2))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    save_figure(fig, dest, dpi=80)


def tsne_figure(dataset: str, prm: Params, dest: str | Path, seed: int) -> None:
    """t-SNE of the test features (the encoder of pretraining seed ``seed``), pretrained beside
    random init, coloured by class."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    fs = read_features(paths.features(dataset, seed))
    test = np.flatnonzero(fs.split_mask("test"))
    if fs.skipped is not None or len(test) < 3:
        _placeholder(dest, f"t-SNE of {dataset}: skipped ({fs.skipped or 'fewer than 3 test objects'})")
        return
    test = test[balanced_subset(fs.labels[test], prm.tsne_max_points, prm.seed)]
    labels = fs.labels[test]
    perplexity = min(prm.perplexity, (len(test) - 1) / 3)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    cmap = plt.get_cmap("tab20" if len(fs.class_names) > 10 else "tab10")
    for ax, init in zip(axes, ("pretrained", "random"), strict=True):
        emb = TSNE(n_components=2, perplexity=perplexity, random_state=prm.seed, init="pca").fit_transform(
            fs.features(init)[test].astype(np.float64)
        )
        for c in np.unique(labels):
            sel = labels == c
            ax.scatter(emb[sel, 0], emb[sel, 1], s=8, color=cmap(int(c) % cmap.N), label=fs.class_names[c])
        ax.set_title(f"{dataset} test features (seed {seed}): {'pretrained' if init == 'pretrained' else 'random init'}")
        ax.set_xticks([])
        ax.set_yticks([])
    if len(fs.class_names) <= 20:
        axes[1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, markerscale=2)
    fig.tight_layout()
    save_figure(fig, dest)


def confusion_figure(dataset: str, dest: str | Path) -> None:
    """Row-normalised confusion matrix (counts written in the cells) from the linear SVM's plot CSV."""
    import matplotlib.pyplot as plt

    src = Path(paths.plots(f"confusion_{dataset}.csv"))
    if not src.exists():
        raise StageError(f"report: {src} not found (run `crosspoint linear-svm --dataset {dataset}` first)")
    with open(src, newline="") as fh:
        pairs = [(r["actual"], r["predicted"]) for r in csv.DictReader(fh)]
    if not pairs:
        _placeholder(dest, f"confusion matrix of {dataset}: no test predictions (dataset skipped)")
        return
    names = sorted({a for a, _ in pairs} | {p for _, p in pairs})
    index = {n: i for i, n in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, p in pairs:
        counts[index[a], index[p]] += 1
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    acc = np.trace(counts) / counts.sum()
    ax.set_title(f"{dataset}: linear SVM on pretrained features (OA {100 * acc:.1f}%)", fontsize=9)
    if len(names) <= 25:
        for i in range(len(names)):
            for j in range(len(names)):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    save_figure(fig, dest)


# ---------------------------------------------------------------------------------------------


def _read_tsv(path: Path) -> tuple[list[float], list[float]]:
    """The (step, value) columns of a DVCLive plot file; empty when it does not exist."""
    if not path.exists():
        return [], []
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]


def pretrain_curves_figure(seeds: list[int], dest: str | Path) -> None:
    """Training loss, validation accuracy (labelled data) and cross-modal retrieval top-1 (the label-free
    criterion) per epoch of every pretraining run (both variants, every seed), from the DVCLive plot files."""
    import matplotlib.pyplot as plt

    panels = (("train/loss.tsv", "pretraining loss (IMID + CMID)", "NT-Xent loss"),
              ("val/accuracy.tsv", "validation accuracy, frozen features", "accuracy (%)"),
              ("val/retrieval_top1.tsv", "held-out cross-modal retrieval, top-1", "top-1 (%)"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    drawn = 0
    for variant, style in (("cls", "-"), ("seg", "--")):
        for seed in seeds:
            live = Path(paths.pretrain_live(variant, seed)) / "plots" / "metrics"
            for ax, (name, _, _) in zip(axes, panels, strict=True):
                x, y = _read_tsv(live / name)
                if x:
                    ax.plot(x, [100 * v for v in y] if name.startswith("val") else y, style, marker="o",
                            markersize=3, label=f"{variant} seed {seed}")
                    drawn += 1
    if not drawn:
        plt.close(fig)
        return _placeholder(dest, "pretraining curves: no DVCLive plots found (pretraining skipped?)")
    for ax, (name, title, ylabel) in zip(axes, panels, strict=True):
        epoch = "epoch (0: random init)" if name.startswith("val") else "epoch"
        ax.set(title=title, xlabel=epoch, ylabel=ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged" if name.startswith("val/r") else "no labels", ha="center",
                    va="center", transform=ax.transAxes, color="grey")
    fig.tight_layout()
    save_figure(fig, dest)


def partseg_curves_figure(seeds: list[int], dest: str | Path) -> None:
    """Validation instance mIoU per epoch of the part-segmentation runs, pretrained beside scratch."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = 0
    for seed in seeds:
        src = Path(paths.partseg_curves(seed))
        if not src.exists():
            continue
        with open(src, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "pretrained_val_instance_miou" not in rows[0]:
            continue
        epochs = [int(r["epoch"]) for r in rows]
        for run, color in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
            values = [float(r[f"{run}_val_instance_miou"]) for r in rows]
            ax.plot(epochs, values, color=color, alpha=0.4 + 0.6 / (1 + seeds.index(seed)), marker="o",
                    markersize=3, label=f"{run} seed {seed}")
            drawn += 1
    if not drawn:
        plt.close(fig)
        return _placeholder(dest, "part segmentation curves: none found (partseg skipped?)")
    ax.set(title="part segmentation: validation instance mIoU", xlabel="epoch", ylabel="mIoU (%)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, dest)


STEPS_PROTOCOLS = (("c_val", "C=val (primary)", "tab:blue"), ("c_val_std", "C=val, standardised", "tab:green"),
                   ("c_paper", "C=0.01 (paper)", "tab:grey"))


def gain_vs_steps_figure(datasets: list[str], dest: str | Path) -> None:
    """One panel per dataset: the linear SVM's gain over random init (overall accuracy, mean over seeds,
    bars: std of the per-seed gain) against the optimizer steps of the snapshot it was measured at
    (``steps_<dataset>.json``; step 0 is the random init itself, gain 0)."""
    import json

    import matplotlib.pyplot as plt

    results = []
    for d in datasets:
        data = json.loads(Path(paths.metrics(f"steps_{d}")).read_text())
        if "skipped" not in data:
            results.append((d, data))
    if not results:
        return _placeholder(dest, "gain against pretraining steps: no dataset evaluated (steps.datasets and "
                                  "pretrain.cls.snapshots; presets/demo.yaml sets both)")
    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.6), squeeze=False)
    for ax, (d, data) in zip(axes[0], results, strict=True):
        steps = [0] + [s["steps"] for s in data["snapshots"]]
        for proto, label, color in STEPS_PROTOCOLS:
            oa = [s["summary"][proto]["overall_accuracy"] for s in data["snapshots"]]
            ax.errorbar(steps, [0.0] + [o["gain"] for o in oa], yerr=[0.0] + [o.get("gain_std") or 0.0 for o in oa],
                        color=color, marker="o", markersize=3, capsize=2, label=label)
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set(title=f"{d} ({data['num_test']} test objects, {len(data['seeds'])} seeds)",
               xlabel="optimizer steps (per process)", ylabel="gain over random init (OA, points)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, dest)
