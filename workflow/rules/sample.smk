# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule sample:
    wildcard_constraints:
        dataset=one_of(P("sample.datasets")),
        shard=one_of(P("sample.shards")),
    input:
        "data/prepared/{dataset}.h5",
        "crosspoint/config.py",
        "crosspoint/exact.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/points/__init__.py",
        "crosspoint/points/sampling.py",
        "crosspoint/progress.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/sample.py",
        "crosspoint/store.py",
    output:
        "data/points/shards/{dataset}/shard-{shard}.h5",
        "data/points/shards/{dataset}/shard-{shard}_rejects.csv",
    params:
        sample_shards=P("sample.shards"),
        sample_points=P("sample.points"),
        sample_point_stores=P("sample.point_stores"),
        sample_seed=P("sample.seed"),
    log:
        "logs/sample_{dataset}_{shard}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint sample --dataset {wildcards.dataset} --shard {wildcards.shard} > {log} 2>&1"
