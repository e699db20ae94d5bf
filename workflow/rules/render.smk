# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule render:
    wildcard_constraints:
        dataset=one_of(P("pretrain.datasets")),
        shard=one_of(P("render.shards")),
    input:
        "data/prepared/{dataset}.h5",
        "crosspoint/config.py",
        "crosspoint/exact.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/progress.py",
        "crosspoint/rendering/__init__.py",
        "crosspoint/rendering/backend.py",
        "crosspoint/rendering/camera.py",
        "crosspoint/rendering/meshes.py",
        "crosspoint/rendering/primitives.py",
        "crosspoint/rendering/r2n2.py",
        "crosspoint/rendering/renderer.py",
        "crosspoint/rendering/views.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/render.py",
        "crosspoint/store.py",
    output:
        "data/render/{dataset}/shard-{shard}.h5",
        "data/render/{dataset}/shard-{shard}_rejects.csv",
    params:
        render=P("render"),
        datasets_dataset=lambda wildcards: P("datasets")[wildcards.dataset],
    log:
        "logs/render_{dataset}_{shard}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "crosspoint render --dataset {wildcards.dataset} --shard {wildcards.shard} > {log} 2>&1"
