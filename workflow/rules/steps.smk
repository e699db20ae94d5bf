# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule steps:
    wildcard_constraints:
        dataset=one_of(P("steps.datasets")),
    input:
        "data/points/{dataset}.h5",
        expand("models/pretrain_cls/seed-{_each}/snapshots.pt", _each=P("pretrain.seeds")),
        "crosspoint/checkpoints.py",
        "crosspoint/config.py",
        "crosspoint/devices.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/evaluate/extraction.py",
        "crosspoint/evaluate/linear_svm.py",
        "crosspoint/evaluate/merge_features.py",
        "crosspoint/evaluate/parallel.py",
        "crosspoint/evaluate/rounding.py",
        "crosspoint/evaluate/steps.py",
        "crosspoint/evaluate/svc.py",
        "crosspoint/exact.py",
        "crosspoint/feature_files.py",
        "crosspoint/metrics.py",
        "crosspoint/models/__init__.py",
        "crosspoint/models/blas.py",
        "crosspoint/models/dgcnn.py",
        "crosspoint/models/encoders.py",
        "crosspoint/models/export.py",
        "crosspoint/models/knn.py",
        "crosspoint/models/pointnet.py",
        "crosspoint/models/registry.py",
        "crosspoint/models/resnet.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/progress.py",
        "crosspoint/settings.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/steps.py",
        "crosspoint/store.py",
        "crosspoint/subsets.py",
    output:
        "results/metrics/steps_{dataset}.json",
    params:
        features_points=P("features.points"),
        features_subset=P("features.subset"),
        features_seed=P("features.seed"),
        features_batch_size=P("features.batch_size"),
        features_device=P("features.device"),
        linear_svm_c_paper=P("linear_svm.c_paper"),
        linear_svm_c_grid=P("linear_svm.c_grid"),
        linear_svm_c_folds=P("linear_svm.c_folds"),
        linear_svm_seed=P("linear_svm.seed"),
        linear_svm_max_iter=P("linear_svm.max_iter"),
        linear_svm_c_search_rows=P("linear_svm.c_search_rows"),
        pretrain_seeds=P("pretrain.seeds"),
    log:
        "logs/steps_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint steps --dataset {wildcards.dataset} > {log} 2>&1"
