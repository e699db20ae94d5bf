# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule fewshot:
    wildcard_constraints:
        dataset=one_of(P("fewshot.datasets")),
    input:
        expand("data/features/{{dataset}}/seed-{_each}.h5", _each=P("pretrain.seeds")),
        "data/points/{dataset}.h5",
        expand("models/pretrain_cls/seed-{_each}/best.pt", _each=P("pretrain.seeds")),
        "crosspoint/checkpoints.py",
        "crosspoint/config.py",
        "crosspoint/devices.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/evaluate/fewshot.py",
        "crosspoint/evaluate/parallel.py",
        "crosspoint/evaluate/rounding.py",
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
        "crosspoint/stages/fewshot.py",
        "crosspoint/store.py",
    output:
        "results/metrics/fewshot_{dataset}.json",
    params:
        fewshot_settings=P("fewshot.settings"),
        fewshot_runs=P("fewshot.runs"),
        fewshot_queries=P("fewshot.queries"),
        fewshot_query_split=P("fewshot.query_split"),
        fewshot_c=P("fewshot.c"),
        fewshot_seed=P("fewshot.seed"),
        fewshot_features=P("fewshot.features"),
        fewshot_points=P("fewshot.points"),
        fewshot_subset=P("fewshot.subset"),
        fewshot_k=P("fewshot.k"),
        fewshot_batch_size=P("fewshot.batch_size"),
        fewshot_device=P("fewshot.device"),
        fewshot_checkpoint=P("fewshot.checkpoint"),
        pretrain_seeds=P("pretrain.seeds"),
    log:
        "logs/fewshot_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "crosspoint fewshot --dataset {wildcards.dataset} > {log} 2>&1"
