# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule merge_points:
    wildcard_constraints:
        dataset=one_of(P("sample.datasets")),
    input:
        expand("data/points/shards/{{dataset}}/shard-{_each}.h5", _each=P("sample.shards")),
        expand("data/points/shards/{{dataset}}/shard-{_each}_rejects.csv", _each=P("sample.shards")),
        "data/prepared/{dataset}.h5",
        "crosspoint/config.py",
        "crosspoint/exact.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/points/__init__.py",
        "crosspoint/points/merge.py",
        "crosspoint/points/sampling.py",
        "crosspoint/progress.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/merge_points.py",
        "crosspoint/store.py",
    output:
        "data/points/{dataset}.h5",
        "data/points/{dataset}_rejects.csv",
    params:
        sample_shards=P("sample.shards"),
        sample_points=P("sample.points"),
        sample_point_stores=P("sample.point_stores"),
        sample_seed=P("sample.seed"),
    log:
        "logs/merge_points_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint merge-points --dataset {wildcards.dataset} > {log} 2>&1"
