"""Downstream evaluations of the frozen or fine-tuned encoder: feature extraction (:mod:`~crosspoint.evaluate.extraction`)
and the merge of its shards, the linear SVM, few-shot and part segmentation (:mod:`~crosspoint.evaluate.partseg`,
its model and loop in :mod:`~crosspoint.evaluate.segmentation`), and what they share: the linear SVC of few-shot
(:mod:`~crosspoint.evaluate.svc`), fits on the pinned threads (:mod:`~crosspoint.evaluate.parallel`) and the
metrics' numbers (:mod:`~crosspoint.evaluate.rounding`). The features file layout is :mod:`crosspoint.feature_files`;
splits, folds and subsets :mod:`crosspoint.subsets`; device choice :mod:`crosspoint.devices`.

This file holds no code: importing any module of the package runs it, so whatever it imported would become
a code dependency of every stage that uses one of them.
"""
