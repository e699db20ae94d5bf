# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule partseg:
    input:
        f"data/points/{P('partseg.dataset')}.h5",
        "models/pretrain_seg/best.pt",
        "crosspoint/evaluate/partseg.py",
        "crosspoint/pretrain.py",
        "crosspoint/models",
        "crosspoint/losses.py",
        "crosspoint/augment.py",
        "crosspoint/training.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/metrics.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
    output:
        "results/figures/partseg_examples.png",
        "results/metrics/partseg.json",
        "results/plots/partseg_curves.csv",
    params:
        partseg=P("partseg"),
        partseg_dataset=P("partseg.dataset"),
    log:
        "logs/partseg.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=1,
    shell:
        "crosspoint partseg --dataset {params.partseg_dataset} > {log} 2>&1"
