# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule render:
    wildcard_constraints:
        shard=one_of(P("render.shards")),
    input:
        f"data/prepared/{P('render.dataset')}.h5",
        "crosspoint/render.py",
        "crosspoint/rendering.py",
        "crosspoint/shards.py",
        "crosspoint/prepare.py",
        "crosspoint/sources",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
        "crosspoint/numerics.py",
        "crosspoint/exact.py",
        "crosspoint/progress.py",
    output:
        "data/render/shard-{shard}.h5",
        "data/render/shard-{shard}_rejects.csv",
    params:
        render=P("render"),
        datasets_render_dataset=P(f"datasets.{P('render.dataset')}"),
    log:
        "logs/render_{shard}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "crosspoint render --shard {wildcards.shard} > {log} 2>&1"
