# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule merge_features:
    wildcard_constraints:
        dataset=one_of(P("features.datasets")),
    input:
        expand("data/features/shards/{{dataset}}/shard-{_each}.h5", _each=P("features.shards")),
        "data/points/{dataset}.h5",
        "crosspoint/merge_features.py",
        "crosspoint/features.py",
        "crosspoint/shards.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/metrics.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
    output:
        "data/features/{dataset}.h5",
    params:
        features=P("features"),
    log:
        "logs/merge_features_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint merge-features --dataset {wildcards.dataset} > {log} 2>&1"
