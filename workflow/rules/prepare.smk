# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule prepare:
    wildcard_constraints:
        dataset=one_of(P("datasets")),
    input:
        "crosspoint/prepare.py",
        "crosspoint/sources",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
        "crosspoint/numerics.py",
        "crosspoint/exact.py",
        "crosspoint/progress.py",
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
