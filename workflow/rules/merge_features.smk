# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule merge_features:
    wildcard_constraints:
        dataset=one_of(P("features.datasets")),
        seed=one_of(P("pretrain.seeds")),
    input:
        expand("data/features/shards/{{dataset}}/seed-{{seed}}/shard-{_each}.h5", _each=P("features.shards")),
        "data/points/{dataset}.h5",
        "crosspoint/config.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/evaluate/merge_features.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/settings.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/merge_features.py",
        "crosspoint/store.py",
    output:
        "data/features/{dataset}/seed-{seed}.h5",
    params:
        features_shards=P("features.shards"),
        features_points=P("features.points"),
        features_subset=P("features.subset"),
        features_batch_size=P("features.batch_size"),
        features_seed=P("features.seed"),
        features_device=P("features.device"),
        features_checkpoint=P("features.checkpoint"),
    log:
        "logs/merge_features_{dataset}_{seed}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint merge-features --dataset {wildcards.dataset} --seed {wildcards.seed} > {log} 2>&1"
