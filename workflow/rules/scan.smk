# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule scan:
    wildcard_constraints:
        dataset=one_of(P("scan.datasets")),
    input:
        "data/prepared/{dataset}.h5",
        "crosspoint/scan.py",
        "crosspoint/rendering.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
        "crosspoint/numerics.py",
        "crosspoint/exact.py",
    output:
        "data/points/{dataset}_scan.h5",
        "data/points/{dataset}_scan_rejects.csv",
    params:
        scan=P("scan"),
    log:
        "logs/scan_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "crosspoint scan --dataset {wildcards.dataset} > {log} 2>&1"
