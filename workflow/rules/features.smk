# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule features:
    wildcard_constraints:
        dataset=one_of(P("features.datasets")),
        shard=one_of(P("features.shards")),
        seed=one_of(P("pretrain.seeds")),
    input:
        "data/points/{dataset}.h5",
        "models/pretrain_cls/seed-{seed}/best.pt",
        "crosspoint/checkpoints.py",
        "crosspoint/config.py",
        "crosspoint/devices.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/evaluate/extraction.py",
        "crosspoint/evaluate/merge_features.py",
        "crosspoint/exact.py",
        "crosspoint/feature_files.py",
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
        "crosspoint/stages/features.py",
        "crosspoint/store.py",
    output:
        "data/features/shards/{dataset}/seed-{seed}/shard-{shard}.h5",
    params:
        features_shards=P("features.shards"),
        features_points=P("features.points"),
        features_subset=P("features.subset"),
        features_batch_size=P("features.batch_size"),
        features_seed=P("features.seed"),
        features_device=P("features.device"),
        features_checkpoint=P("features.checkpoint"),
    log:
        "logs/features_{dataset}_{shard}_{seed}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    shell:
        "crosspoint features --dataset {wildcards.dataset} --shard {wildcards.shard} --seed {wildcards.seed} > {log} 2>&1"
