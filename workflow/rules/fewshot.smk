# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule fewshot:
    wildcard_constraints:
        dataset=one_of(P("fewshot.datasets")),
    input:
        expand("data/features/{{dataset}}/seed-{_each}.h5", _each=P("pretrain.seeds")),
        "crosspoint/evaluate/fewshot.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/metrics.py",
        "crosspoint/store.py",
        "crosspoint/config.py",
        "crosspoint/paths.py",
        "crosspoint/numerics.py",
        "crosspoint/exact.py",
    output:
        "results/metrics/fewshot_{dataset}.json",
    params:
        fewshot_settings=P("fewshot.settings"),
        fewshot_runs=P("fewshot.runs"),
        fewshot_queries=P("fewshot.queries"),
        fewshot_query_split=P("fewshot.query_split"),
        fewshot_c=P("fewshot.c"),
        fewshot_seed=P("fewshot.seed"),
        pretrain_seeds=P("pretrain.seeds"),
    log:
        "logs/fewshot_{dataset}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "crosspoint fewshot --dataset {wildcards.dataset} > {log} 2>&1"
