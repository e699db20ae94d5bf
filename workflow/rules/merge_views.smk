# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule merge_views:
    wildcard_constraints:
        dataset=one_of(P("pretrain.datasets")),
    input:
        expand("data/render/{{dataset}}/shard-{_each}.h5", _each=P("render.shards")),
        "data/prepared/{dataset}.h5",
        "data/points/{dataset}.h5",
        "crosspoint/config.py",
        "crosspoint/exact.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/progress.py",
        "crosspoint/rendering/__init__.py",
        "crosspoint/rendering/backend.py",
        "crosspoint/rendering/camera.py",
        "crosspoint/rendering/merge.py",
        "crosspoint/rendering/meshes.py",
        "crosspoint/rendering/primitives.py",
        "crosspoint/rendering/r2n2.py",
        "crosspoint/rendering/renderer.py",
        "crosspoint/rendering/views.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/merge_views.py",
        "crosspoint/store.py",
    output:
        "data/views/{dataset}.h5",
        report("results/figures/contact_sheet/{dataset}.png", caption="../report/contact_sheet.rst", category="1 render", subcategory="dataset {dataset}"),
    params:
        render=P("render"),
        datasets_dataset=lambda wildcards: P("datasets")[wildcards.dataset],
    log:
        "logs/merge_views_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "crosspoint merge-views --dataset {wildcards.dataset} > {log} 2>&1"
