# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule report:
    input:
        expand("results/metrics/linear_svm_{_each}.json", _each=P("linear_svm.datasets")),
        expand("results/metrics/fewshot_{_each}.json", _each=P("fewshot.datasets")),
        expand("results/metrics/partseg/seed-{_each}.json", _each=P("pretrain.seeds")),
        expand("results/metrics/steps_{_each}.json", _each=P("steps.datasets")),
        expand(f"data/features/{P('report.tsne_dataset')}/seed-{{_each}}.h5", _each=P("pretrain.seeds")),
        f"results/plots/confusion_{P('report.tsne_dataset')}.csv",
        expand("results/pretrain_cls/seed-{_each}/plots/metrics", _each=P("pretrain.seeds")),
        expand("results/pretrain_seg/seed-{_each}/plots/metrics", _each=P("pretrain.seeds")),
        expand("results/plots/partseg_curves/seed-{_each}.csv", _each=P("pretrain.seeds")),
        "crosspoint/config.py",
        "crosspoint/feature_files.py",
        "crosspoint/metrics.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/reporting/__init__.py",
        "crosspoint/reporting/figures.py",
        "crosspoint/reporting/rows.py",
        "crosspoint/reporting/summary.py",
        "crosspoint/reporting/tables.py",
        "crosspoint/settings.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/report.py",
        "crosspoint/store.py",
        "crosspoint/subsets.py",
    output:
        report("results/tables/summary.csv", caption="../report/summary.rst", category="0 summary"),
        "results/tables/summary.md",
        "results/headline.json",
        "results/primary.json",
        report(f"results/figures/tsne_{P('report.tsne_dataset')}.png", caption="../report/tsne.rst", category="3 features"),
        report(f"results/figures/confusion_{P('report.tsne_dataset')}.png", caption="../report/confusion.rst", category="4 linear_svm"),
        report("results/figures/pretrain_curves.png", caption="../report/pretrain_curves.rst", category="2 pretrain"),
        report("results/figures/partseg_curves.png", caption="../report/partseg_curves.rst", category="5 partseg"),
        "results/figures/gain_vs_steps.png",
    params:
        report=P("report"),
        linear_svm=P("linear_svm"),
        fewshot=P("fewshot"),
        partseg=P("partseg"),
        steps=P("steps"),
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
