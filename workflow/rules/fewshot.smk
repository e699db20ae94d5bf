# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule fewshot:
    input:
        f"data/features/{P('fewshot.dataset')}.h5",
        "crosspoint/evaluate/fewshot.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/metrics.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
    output:
        "results/metrics/fewshot.json",
    params:
        fewshot=P("fewshot"),
        fewshot_dataset=P("fewshot.dataset"),
    log:
        "logs/fewshot.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint fewshot --dataset {params.fewshot_dataset} > {log} 2>&1"
