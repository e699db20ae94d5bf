# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule partseg:
    wildcard_constraints:
        seed=one_of(P("pretrain.seeds")),
    input:
        f"data/points/{P('partseg.dataset')}.h5",
        "models/pretrain_seg/seed-{seed}/best.pt",
        "crosspoint/checkpoints.py",
        "crosspoint/config.py",
        "crosspoint/devices.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/evaluate/partseg.py",
        "crosspoint/evaluate/rounding.py",
        "crosspoint/evaluate/segmentation.py",
        "crosspoint/exact.py",
        "crosspoint/feature_files.py",
        "crosspoint/metrics.py",
        "crosspoint/models/__init__.py",
        "crosspoint/models/blas.py",
        "crosspoint/models/dgcnn.py",
        "crosspoint/models/encoders.py",
        "crosspoint/models/export.py",
        "crosspoint/models/knn.py",
        "crosspoint/models/pointnet.py",
        "crosspoint/models/registry.py",
        "crosspoint/models/resnet.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/progress.py",
        "crosspoint/settings.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/partseg.py",
        "crosspoint/store.py",
        "crosspoint/subsets.py",
    output:
        "models/partseg/seed-{seed}/last.pt",
        "results/metrics/partseg/seed-{seed}.json",
        "results/plots/partseg_curves/seed-{seed}.csv",
        report("results/figures/partseg_examples/seed-{seed}.png", caption="../report/partseg_examples.rst", category="5 partseg", subcategory="seed {seed}"),
    params:
        partseg=P("partseg"),
        partseg_dataset=P("partseg.dataset"),
    log:
        "logs/partseg_{seed}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=1,
    shell:
        "crosspoint partseg --dataset {params.partseg_dataset} --seed {wildcards.seed} > {log} 2>&1"
