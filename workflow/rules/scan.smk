# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule scan:
    input:
        f"data/prepared/{P('scan.dataset')}.h5",
        "crosspoint/scan.py",
        "crosspoint/rendering.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
    output:
        f"data/points/{P('scan.dataset')}_scan.h5",
        f"data/points/{P('scan.dataset')}_scan_rejects.csv",
    params:
        scan=P("scan"),
    log:
        "logs/scan.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "crosspoint scan > {log} 2>&1"
