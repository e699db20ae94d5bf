"""``crosspoint report``: the summary tables and figures of the evaluations.

Which evaluations exist comes from params (``linear_svm.datasets``, ``fewshot.datasets``, ``partseg``); the
stage reads their metrics JSON files and writes ``paths.tables("summary.csv")`` and
``summary.md``: one row per evaluation and metric, columns

    evaluation, dataset, metric, pretrained, pretrained_std, random_init, random_init_std, gain,
    p_value, p_holm, significant, seeds, paper, paper_std, paper_random_init, paper_reference, note

``pretrained`` / ``random_init`` are means over the pretraining seeds (``pretrain.seeds``), ``*_std``
the sample std over seeds, ``gain`` = pretrained - random_init (percentage points), ``p_value`` of
Welch's two-sided t-test over seeds (:func:`crosspoint.metrics.compare_over_seeds`), ``p_holm`` the same
after Holm-Bonferroni over the table's tests, and ``significant`` = ``better`` / ``worse`` when
``p_holm`` < 0.05, else ``no`` (:func:`crosspoint.reporting.tables.apply_holm`). Few-shot rows compare each seed's mean over
its episodes. Paper numbers (CrossPoint, DGCNN) go in
``paper`` / ``paper_std`` / ``paper_random_init`` only when the dataset IS the paper's dataset
(``modelnet40``, ``scanobjectnn``, ``shapenetpart``) and the metric is the paper's. The default
pipeline's stand-ins (``synth`` for ModelNet40 and ShapeNetPart, ``synth_scan`` for ScanObjectNN)
get the number of the dataset they stand in for in ``paper_reference`` instead, with a note: it is
for orientation only, the data differ. Few-shot paper numbers were measured with queries from the
train split (the upstream script); with ``fewshot.query_split: test`` the note says so.

Figures: a t-SNE of the test features of ``report.tsne_dataset`` (first pretraining seed; pretrained
beside random init, coloured by class) and the confusion matrix of its linear SVM (pretrained, first
seed, C = ``c_paper``) drawn from ``paths.plots("confusion_<dataset>.csv")``.
"""

from __future__ import annotations

import logging
import math

from crosspoint import paths
from crosspoint.reporting.figures import (
    confusion_figure,
    gain_vs_steps_figure,
    partseg_curves_figure,
    pretrain_curves_figure,
    tsne_figure,
)
from crosspoint.reporting.rows import HEADLINE, PRIMARY, Params, Plan, Row, build_rows
from crosspoint.reporting.tables import headline, merge_balanced, primary, write_tables
from crosspoint.store import write_json

log = logging.getLogger("crosspoint.reporting.summary")

# Stage


def run(prm: Params, plan: Plan) -> list[Row]:
    import matplotlib

    matplotlib.use("Agg")
    rows = build_rows(plan)
    tests = sum(r.p_value is not None for r in merge_balanced(rows)[0])
    write_tables(rows, paths.tables("summary.csv"), paths.tables("summary.md"))
    write_json(HEADLINE, headline(rows))
    write_json(PRIMARY, primary(rows))
    log.info("report: %d rows (%d tests, Holm-Bonferroni) -> %s, %s, %s, %s", len(rows), tests,
             paths.tables("summary.csv"), paths.tables("summary.md"), HEADLINE, PRIMARY)
    tsne_figure(prm.tsne_dataset, prm, paths.figures(f"tsne_{prm.tsne_dataset}.png"), plan.seeds[0])
    confusion_figure(prm.tsne_dataset, paths.figures(f"confusion_{prm.tsne_dataset}.png"))
    pretrain_curves_figure(plan.seeds, paths.figures("pretrain_curves.png"))
    partseg_curves_figure(plan.seeds if plan.partseg_dataset is not None else [], paths.figures("partseg_curves.png"))
    gain_vs_steps_figure(plan.steps_datasets, paths.figures("gain_vs_steps.png"))
    log.info("report: figures tsne_%s.png, confusion_%s.png, pretrain_curves.png, partseg_curves.png, "
             "gain_vs_steps.png written",
             prm.tsne_dataset, prm.tsne_dataset)
    for r in rows:
        if r.gain is not None and not math.isnan(r.gain):
            log.info("%s %s %s: pretrained %.1f ± %s, random %.1f ± %s, gain %+.1f (p=%s, Holm %s, %s)", r.evaluation,
                     r.dataset, r.metric, r.pretrained, r.pretrained_std, r.random_init, r.random_init_std, r.gain,
                     r.p_value, r.p_holm, r.significant or "-")
    return rows
