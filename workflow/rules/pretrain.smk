# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule pretrain:
    wildcard_constraints:
        variant=one_of(['cls', 'seg']),
        seed=one_of(P("pretrain.seeds")),
    input:
        expand("data/views/{_each}.h5", _each=P("pretrain.datasets")),
        "crosspoint/config.py",
        "crosspoint/evaluate/__init__.py",
        "crosspoint/exact.py",
        "crosspoint/models/__init__.py",
        "crosspoint/models/blas.py",
        "crosspoint/models/dgcnn.py",
        "crosspoint/models/encoders.py",
        "crosspoint/models/export.py",
        "crosspoint/models/heads.py",
        "crosspoint/models/knn.py",
        "crosspoint/models/pointnet.py",
        "crosspoint/models/resnet.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/progress.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/pretrain.py",
        "crosspoint/store.py",
        "crosspoint/subsets.py",
        "crosspoint/training/__init__.py",
        "crosspoint/training/augment.py",
        "crosspoint/training/data.py",
        "crosspoint/training/live_log.py",
        "crosspoint/training/losses.py",
        "crosspoint/training/params.py",
        "crosspoint/training/pretrain.py",
        "crosspoint/training/validation.py",
    output:
        "models/pretrain_{variant}/seed-{seed}/best.pt",
        "models/pretrain_{variant}/seed-{seed}/last.pt",
        "results/pretrain_{variant}/seed-{seed}/metrics.json",
        directory("results/pretrain_{variant}/seed-{seed}/plots/metrics"),
    params:
        pretrain_variant=lambda wildcards: P("pretrain")[wildcards.variant],
        pretrain_datasets=P("pretrain.datasets"),
        pretrain_lr=P("pretrain.lr"),
        pretrain_weight_decay=P("pretrain.weight_decay"),
        pretrain_temperature=P("pretrain.temperature"),
        pretrain_w_imid=P("pretrain.w_imid"),
        pretrain_w_cmid=P("pretrain.w_cmid"),
        pretrain_val_fraction=P("pretrain.val_fraction"),
        pretrain_val_every=P("pretrain.val_every"),
        pretrain_selection=P("pretrain.selection"),
        pretrain_val_retrieval_max=P("pretrain.val_retrieval_max"),
        pretrain_val_classifier=P("pretrain.val_classifier"),
        pretrain_svm_c=P("pretrain.svm_c"),
        pretrain_knn_k=P("pretrain.knn_k"),
        pretrain_val_batch_size=P("pretrain.val_batch_size"),
        pretrain_val_max_fit=P("pretrain.val_max_fit"),
        pretrain_workers=P("pretrain.workers"),
        pretrain_sync_bn=P("pretrain.sync_bn"),
        pretrain_global_negatives=P("pretrain.global_negatives"),
        pretrain_precision=P("pretrain.precision"),
        pretrain_point_augment=P("pretrain.point_augment"),
        pretrain_image_augment=P("pretrain.image_augment"),
    log:
        "logs/pretrain_{variant}_{seed}.log",
    conda:
        "../envs/crosspoint.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=1,
    shell:
        "crosspoint pretrain --variant {wildcards.variant} --seed {wildcards.seed} > {log} 2>&1"
