# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule merge_views:
    input:
        expand("data/render/shard-{_each}.h5", _each=P("render.shards")),
        f"data/prepared/{P('render.dataset')}.h5",
        "crosspoint/merge_views.py",
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
        "data/views/views.h5",
        report("results/figures/contact_sheet.png", caption="../report/contact_sheet.rst", category="1 render"),
    params:
        render=P("render"),
        datasets_render_dataset=P(f"datasets.{P('render.dataset')}"),
    log:
        "logs/merge_views.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "crosspoint merge-views > {log} 2>&1"
