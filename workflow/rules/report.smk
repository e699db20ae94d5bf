# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule report:
    input:
        expand("results/metrics/linear_svm_{_each}.json", _each=P("linear_svm.datasets")),
        expand("results/metrics/fewshot_{_each}.json", _each=P("fewshot.datasets")),
        expand("results/metrics/partseg/seed-{_each}.json", _each=P("pretrain.seeds")),
        expand(f"data/features/{P('report.tsne_dataset')}/seed-{{_each}}.h5", _each=P("pretrain.seeds")),
        f"results/plots/confusion_{P('report.tsne_dataset')}.csv",
        "crosspoint/report.py",
        "crosspoint/evaluate/linear_svm.py",
        "crosspoint/evaluate/fewshot.py",
        "crosspoint/evaluate/partseg.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/metrics.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
        "crosspoint/numerics.py",
        "crosspoint/exact.py",
    output:
        "results/tables/summary.csv",
        "results/tables/summary.md",
        f"results/figures/tsne_{P('report.tsne_dataset')}.png",
        f"results/figures/confusion_{P('report.tsne_dataset')}.png",
    params:
        report=P("report"),
        linear_svm=P("linear_svm"),
        fewshot=P("fewshot"),
        partseg=P("partseg"),
        pretrain_seeds=P("pretrain.seeds"),
    log:
        "logs/report.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint report > {log} 2>&1"
