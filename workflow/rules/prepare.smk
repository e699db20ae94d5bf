# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

# source -> the files of its package (crosspoint/sources/<source>/): what an instance runs for its
# dataset's source, besides the inputs every instance has
SOURCE_CODE = {
    "synthetic": [
        "crosspoint/sources/synthetic/__init__.py",
        "crosspoint/sources/synthetic/furniture.py",
        "crosspoint/sources/synthetic/generator.py",
        "crosspoint/sources/synthetic/household.py",
        "crosspoint/sources/synthetic/primitives.py",
        "crosspoint/sources/synthetic/vehicles.py",
    ],
    "modelnet": [
        "crosspoint/sources/modelnet/__init__.py",
        "crosspoint/sources/modelnet/reader.py",
    ],
    "mesh_dir": [
        "crosspoint/sources/mesh_dir/__init__.py",
        "crosspoint/sources/mesh_dir/reader.py",
    ],
    "mesh_folder": [
        "crosspoint/sources/mesh_folder/__init__.py",
        "crosspoint/sources/mesh_folder/reader.py",
    ],
    "shapenetcore": [
        "crosspoint/sources/shapenetcore/__init__.py",
        "crosspoint/sources/shapenetcore/reader.py",
    ],
    "scanobjectnn": [
        "crosspoint/sources/scanobjectnn/__init__.py",
        "crosspoint/sources/scanobjectnn/reader.py",
    ],
    "shapenetpart": [
        "crosspoint/sources/shapenetpart/__init__.py",
        "crosspoint/sources/shapenetpart/reader.py",
    ],
    "modelnet40_h5": [
        "crosspoint/sources/modelnet40_h5/__init__.py",
        "crosspoint/sources/modelnet40_h5/reader.py",
    ],
    "shapenet_render": [
        "crosspoint/sources/shapenet_render/__init__.py",
        "crosspoint/sources/shapenet_render/reader.py",
    ],
}


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
        "crosspoint/sources/h5_points.py",
        "crosspoint/sources/helpers.py",
        "crosspoint/sources/mesh_files.py",
        "crosspoint/sources/off.py",
        "crosspoint/sources/ply.py",
        "crosspoint/sources/prepare.py",
        "crosspoint/sources/registry.py",
        "crosspoint/sources/synsets.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/prepare.py",
        "crosspoint/store.py",
        lambda wildcards: SOURCE_CODE[P("datasets")[wildcards.dataset]["source"]],
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
