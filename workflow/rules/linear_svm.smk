# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule linear_svm:
    wildcard_constraints:
        dataset=one_of(P("linear_svm.datasets")),
    input:
        expand("data/features/{{dataset}}/seed-{_each}.h5", _each=P("pretrain.seeds")),
        "crosspoint/config.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/evaluate/linear_svm.py",
        "crosspoint/evaluate/parallel.py",
        "crosspoint/evaluate/rounding.py",
        "crosspoint/evaluate/svc.py",
        "crosspoint/exact.py",
        "crosspoint/feature_files.py",
        "crosspoint/metrics.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/settings.py",
        "crosspoint/shards.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/linear_svm.py",
        "crosspoint/store.py",
        "crosspoint/subsets.py",
    output:
        "results/metrics/linear_svm_{dataset}.json",
        "results/plots/confusion_{dataset}.csv",
    params:
        linear_svm_c_paper=P("linear_svm.c_paper"),
        linear_svm_c_grid=P("linear_svm.c_grid"),
        linear_svm_c_folds=P("linear_svm.c_folds"),
        linear_svm_seed=P("linear_svm.seed"),
        linear_svm_max_iter=P("linear_svm.max_iter"),
        linear_svm_c_search_rows=P("linear_svm.c_search_rows"),
        pretrain_seeds=P("pretrain.seeds"),
    log:
        "logs/linear_svm_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint linear-svm --dataset {wildcards.dataset} > {log} 2>&1"
