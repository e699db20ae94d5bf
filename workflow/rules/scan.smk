# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.

rule scan:
    wildcard_constraints:
        dataset=one_of(P("scan.datasets")),
    input:
        "data/prepared/{dataset}.h5",
        "crosspoint/config.py",
        "crosspoint/exact.py",
        "crosspoint/numerics.py",
        "crosspoint/paths.py",
        "crosspoint/points/__init__.py",
        "crosspoint/points/scans.py",
        "crosspoint/progress.py",
        "crosspoint/rendering/__init__.py",
        "crosspoint/rendering/backend.py",
        "crosspoint/rendering/camera.py",
        "crosspoint/rendering/meshes.py",
        "crosspoint/rendering/primitives.py",
        "crosspoint/rendering/renderer.py",
        "crosspoint/stages/__init__.py",
        "crosspoint/stages/scan.py",
        "crosspoint/store.py",
    output:
        "data/points/{dataset}_scan.h5",
        "data/points/{dataset}_scan_rejects.csv",
    params:
        scan_heading=P("scan.heading"),
        scan_points=P("scan.points"),
        scan_image_size=P("scan.image_size"),
        scan_yfov_deg=P("scan.yfov_deg"),
        scan_distance=P("scan.distance"),
        scan_elevation_deg=P("scan.elevation_deg"),
        scan_depth_noise=P("scan.depth_noise"),
        scan_lateral_noise=P("scan.lateral_noise"),
        scan_floor=P("scan.floor"),
        scan_floor_size=P("scan.floor_size"),
        scan_neighbours=P("scan.neighbours"),
        scan_neighbour_scale=P("scan.neighbour_scale"),
        scan_neighbour_gap=P("scan.neighbour_gap"),
        scan_crop_margin=P("scan.crop_margin"),
        scan_max_background=P("scan.max_background"),
        scan_min_object_points=P("scan.min_object_points"),
        scan_backend=P("scan.backend"),
        scan_seed=P("scan.seed"),
        scan_datasets_dataset=lambda wildcards: P("scan.datasets")[wildcards.dataset],
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
