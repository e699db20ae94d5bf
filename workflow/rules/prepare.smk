# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule prepare:
    wildcard_constraints:
        dataset=one_of(P("datasets")),
    input:
        "crosspoint/config.py",
        "crosspoint/exact.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/progress.py",
        "crosspoint/sources/__init__.py",
        "crosspoint/sources/base.py",
        "crosspoint/sources/download.py",
        "crosspoint/sources/mesh_dir.py",
        "crosspoint/sources/mesh_folder.py",
        "crosspoint/sources/modelnet.py",
        "crosspoint/sources/modelnet_h5.py",
        "crosspoint/sources/off.py",
        "crosspoint/sources/ply.py",
        "crosspoint/sources/prepare.py",
        "crosspoint/sources/scanobjectnn.py",
        "crosspoint/sources/shapenet_render.py",
        "crosspoint/sources/shapenetcore.py",
        "crosspoint/sources/shapenetpart.py",
        "crosspoint/sources/synthetic/__init__.py",
        "crosspoint/sources/synthetic/furniture.py",
        "crosspoint/sources/synthetic/household.py",
        "crosspoint/sources/synthetic/primitives.py",
        "crosspoint/sources/synthetic/vehicles.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/prepare.py",
        "crosspoint/store.py",
    output:
        "data/prepared/{dataset}.h5",
        "data/prepared/{dataset}_rejects.csv",
    params:
        datasets_dataset=lambda wildcards: P("datasets")[wildcards.dataset],
    log:
        "logs/prepare_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "crosspoint prepare --dataset {wildcards.dataset} > {log} 2>&1"
