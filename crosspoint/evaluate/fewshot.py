"""``crosspoint fewshot --dataset NAME``: N-way K-shot linear SVMs on frozen features (mean ± std over runs).

Per setting ``[way, shot]`` and run: draw ``way`` classes, ``shot`` support objects per class from
the train split, and ``queries`` query objects per class; fit ``StandardScaler`` on the support, a
linear SVC at C=c (libsvm given :func:`crosspoint.exact.gram`'s kernel, as the linear-SVM stage:
:mod:`crosspoint.evaluate.svc`), score the queries. The same episodes are used for the pretrained and
the random-init features (a paired comparison). Queries come from the TEST split by default
(``query_split: test``); ``train_upstream`` reproduces the upstream script, which drew queries from
the train split (disjoint from the support). A support object is never a query in either mode.

A setting the dataset cannot fill (too few classes with enough objects) is recorded as
``{"skipped": reason}`` and the others still run. A class with too few objects for a setting (fewer
than ``shot`` in the support pool, or fewer than ``queries`` left in the query pool) is never drawn:
each is logged and listed, with its counts, under the setting's ``skipped_classes`` (per seed and in
the summary; the key is absent when no class is left out). Accuracies are in percent; std is the population
std over runs (ddof=0), as the upstream script reports. One metrics file per dataset of
``fewshot.datasets``: ``paths.metrics(f"fewshot_{NAME}")``, with ``per_seed`` (each pretraining seed
of ``pretrain.seeds``: the same episodes on its pretrained and random-init features) and ``summary``
(per setting: the per-seed means of both encoders over seeds, gain and Welch's t-test).

Features: by default (``features: shared``) the files of the features stage, shared with the linear
SVM (``features.points``, the k each encoder was pretrained with). ``features: own`` extracts them
here, per seed, from the point store and the cls checkpoint (:func:`crosspoint.models.encoders.frozen_features`)
with this section's ``points``, ``subset`` and ``k``, as the upstream few-shot script does with its
own settings (all 2048 stored points, k = 5).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from crosspoint import numerics, paths
from crosspoint.evaluate.parallel import parallel_map
from crosspoint.evaluate.rounding import percent, rounded
from crosspoint.evaluate.svc import linear_svc_predict
from crosspoint.feature_files import INITS, FeatureSet, read_features, store_skipped
from crosspoint.metrics import Episode, accuracy, compare_over_seeds, eligible_classes, sample_episode
from crosspoint.settings import FewshotParams as Params
from crosspoint.settings import setting_name
from crosspoint.store import StageError, read_point_store, require_labels, write_json

log = logging.getLogger("crosspoint.fewshot")


def pools(fs: FeatureSet, query_split: str) -> tuple[np.ndarray, np.ndarray]:
    """(support pool, query pool) as index arrays for the chosen query protocol."""
    train = np.flatnonzero(fs.split_mask("train"))
    query = np.flatnonzero(fs.split_mask("test")) if query_split == "test" else train
    return train, query


def episode_accuracy(x: np.ndarray, labels: np.ndarray, episode: Episode, c: float) -> float:
    """Accuracy of one episode: scaler fit on support, linear SVC on support, scored on queries."""
    pred = linear_svc_predict(x[episode.support], labels[episode.support], x[episode.query], c, standardize=True)
    return accuracy(labels[episode.query], pred)


def left_out_classes(fs: FeatureSet, support_pool: np.ndarray, query_pool: np.ndarray, ok: np.ndarray,
                     shot: int, queries: int, where: str = "") -> list[dict[str, Any]]:
    """The classes present in the dataset that episodes cannot draw (too few support or query
    objects), each logged and described by its counts in the two pools."""
    out = []
    for c in np.unique(fs.labels):
        if c in ok:
            continue
        name = fs.class_names[c] if 0 <= c < len(fs.class_names) else str(int(c))
        n_support = int(np.count_nonzero(fs.labels[support_pool] == c))
        n_query = int(np.count_nonzero(fs.labels[query_pool] == c))
        out.append({"class": name, "support_pool": n_support, "query_pool": n_query})
        log.warning("fewshot %s: class %s left out: %d objects in the support pool for %d shots, %d in the query "
                    "pool for %d queries (support and queries are disjoint)", where, name, n_support, shot, n_query,
                    queries)
    return out


def run_setting(fs: FeatureSet, way: int, shot: int, prm: Params, dataset: str = "") -> dict[str, Any]:
    """One setting's episodes on both encoders' features; ``skipped_classes`` (only when some
    are) lists the classes too small to be drawn."""
    support_pool, query_pool = pools(fs, prm.query_split)
    ok = eligible_classes(fs.labels, support_pool, query_pool, shot, prm.queries)
    left_out = left_out_classes(fs, support_pool, query_pool, ok, shot, prm.queries,
                                f"{dataset} {setting_name(way, shot)}")
    extra: dict[str, Any] = {"skipped_classes": left_out} if left_out else {}
    if len(ok) < way:
        reason = (
            f"{way}-way {shot}-shot with {prm.queries} {prm.query_split} queries per class needs {way} classes "
            f"with enough objects; {dataset or 'the dataset'} has {len(ok)}"
        )
        log.warning("fewshot %s %s: skipped (%s)", dataset, setting_name(way, shot), reason)
        return {"way": way, "shot": shot, "skipped": reason, **extra}
    # one generator per setting, so a setting's episodes do not depend on which others run
    rng = np.random.default_rng([prm.seed, way, shot])
    episodes = [
        sample_episode(fs.labels, support_pool, query_pool, way, shot, prm.queries, rng) for _ in range(prm.runs)
    ]
    out: dict[str, Any] = {"way": way, "shot": shot, **extra}
    for init in INITS:
        x = fs.features(init)
        accs = np.array(parallel_map(lambda ep, x=x: episode_accuracy(x, fs.labels, ep, prm.c), episodes))
        out[init] = {
            "mean": percent(accs.mean()), "std": percent(accs.std()), "runs": [percent(a) for a in accs],
        }
    log.info(
        "fewshot %s %s: pretrained %.1f ± %.1f, random %.1f ± %.1f", dataset, setting_name(way, shot),
        out["pretrained"]["mean"], out["pretrained"]["std"], out["random"]["mean"], out["random"]["std"],
    )
    return out


def evaluate(fs: FeatureSet, prm: Params, dataset: str = "") -> dict[str, Any]:
    if fs.split_mask("train").sum() == 0:
        raise StageError(f"fewshot: dataset {dataset} has no train objects")
    return {
        "dataset": dataset, "query_split": prm.query_split, "queries": prm.queries, "runs": prm.runs,
        "c": prm.c, "unit": "percent",
        "settings": {setting_name(w, s): run_setting(fs, w, s, prm, dataset) for w, s in prm.settings},
    }


def summarize(per_seed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per setting (not skipped): the per-seed mean accuracies of both encoders compared over seeds."""
    first = next(iter(per_seed.values()))
    out: dict[str, Any] = {}
    for name, setting in first["settings"].items():
        extra = {"skipped_classes": setting["skipped_classes"]} if "skipped_classes" in setting else {}
        if "skipped" in setting:
            out[name] = {"skipped": setting["skipped"], **extra}
            continue
        pre = [m["settings"][name]["pretrained"]["mean"] for m in per_seed.values()]
        rnd = [m["settings"][name]["random"]["mean"] for m in per_seed.values()]
        out[name] = {**rounded(compare_over_seeds(pre, rnd)), **extra}
    return out



def own_features(dataset: str, prm: Params, seed: int) -> FeatureSet:
    """Features of the whole point store of ``dataset`` by the cls encoder of ``seed`` and its random
    init, extracted with this section's points, subset and k (``features: own``)."""
    from crosspoint.models.encoders import frozen_features

    src = Path(paths.points(dataset))
    ps = read_point_store(src)
    skipped = store_skipped(src)
    if skipped is not None or len(ps) == 0:
        empty = np.zeros((0, 0), np.float32)
        return FeatureSet(empty, empty, np.zeros(0, np.int64), [], [], ps.meta.class_names,
                          skipped=skipped or f"{src} holds no objects")
    if prm.points > ps.points.shape[1]:
        raise StageError(f"fewshot.points={prm.points} but {src} has only {ps.points.shape[1]} points per object")
    ckpt = Path(paths.encoder_checkpoint("cls", seed, prm.checkpoint))
    if prm.checkpoint is not None and not ckpt.is_file():
        raise StageError(f"{ckpt}: fewshot.checkpoint not found (make it with `crosspoint import-weights`)")
    if not ckpt.exists():
        raise StageError(f"{ckpt}: pretrained encoder not found (run `crosspoint pretrain` first: dvc repro)")
    pretrained, random, model_cfg = frozen_features(
        ps.points, ckpt, seed, points=prm.points, subset=prm.subset, subset_seed=prm.seed,
        batch_size=prm.batch_size, device=prm.device, k=prm.k, tag=f"fewshot {dataset} seed {seed}",
    )
    return FeatureSet(pretrained, random, np.asarray(ps.labels, np.int64), ps.split, ps.object_ids,
                      ps.meta.class_names, attrs={"k": int(model_cfg.get("k", 0)), "labelled": ps.meta.labelled})


def run(dataset: str, prm: Params, seeds: list[int]) -> dict[str, Any]:
    dest = paths.metrics(f"fewshot_{dataset}")
    per_seed: dict[str, dict[str, Any]] = {}
    used_k = None
    for seed in seeds:
        if prm.features == "own":
            fs = own_features(dataset, prm, seed)
            used_k = (fs.attrs or {}).get("k", used_k)
        else:
            fs = read_features(paths.features(dataset, seed))
        require_labels(fs.labelled, dataset, "fewshot")
        if fs.skipped is not None:  # an absent optional dataset: the whole file says so
            log.warning("fewshot %s: skipped (%s)", dataset, fs.skipped)
            write_json(dest, {"skipped": fs.skipped})
            return {"skipped": fs.skipped}
        per_seed[str(seed)] = evaluate(fs, prm, f"{dataset} seed {seed}")
    common = {k: v for k, v in next(iter(per_seed.values())).items() if k != "settings"}
    common["dataset"] = dataset
    if prm.features == "own":  # recorded only then: the shared mode's record is unchanged
        common["features"] = {"source": "own", "points": prm.points, "subset": prm.subset, "k": used_k}
    metrics = {**common, "seeds": list(seeds), "summary": summarize(per_seed),
               "per_seed": {s: {"settings": m["settings"]} for s, m in per_seed.items()},
               "numerics": numerics.record()}
    for name, s in metrics["summary"].items():
        if "skipped" not in s:
            log.info("fewshot %s %s over %d seeds: pretrained %.1f ± %s, random %.1f ± %s: %s (p=%s)", dataset,
                     name, len(seeds), s["pretrained"]["mean"], s["pretrained"]["std"], s["random"]["mean"],
                     s["random"]["std"], s["verdict"], s["p_value"])
    write_json(dest, metrics)
    log.info("fewshot %s: wrote %s", dataset, dest)
    return metrics
