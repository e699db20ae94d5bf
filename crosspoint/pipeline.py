"""The pipeline's stage list, defined once, and the two engine files derived from it.

``STAGES`` below is the single definition of the DAG. ``crosspoint dag --write`` renders it as
``dvc.yaml`` (DVC templating: ``foreach``/``matrix`` over params lists) and as ``workflow/rules/*.smk``
(Snakemake wildcards constrained to the same params lists); ``crosspoint dag --check`` (and the
test suite) fails when either committed file differs from what the stage list produces.

Template language used in the stage list (rendered for each engine):
  ``{dataset}``    an axis of the stage's instances (``Axis`` name: dataset, shard, variant); DVC
                   ``${item}``/``${key}`` (one axis) or ``${item.dataset}`` (matrix), a Snakemake wildcard;
  ``{p:a.b}``      the value of parameter ``a.b`` from params.yaml;
  ``{each:a.b}``   one path per element of the list parameter ``a.b`` (Snakemake ``expand``; DVC, which
                   cannot expand lists into deps, depends on the folder that holds them).

A stage over the ``datasets`` mapping may depend, per instance, on the code of its dataset's source only
(``Stage.source_code``: ``prepare``): DVC depends on the folder ``crosspoint/sources/${item.source}``, Snakemake
on the files of that folder, looked up from the wildcard (:func:`source_code`).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crosspoint import paths
from crosspoint.code_deps import CodeDepsError, code_deps, package_files
from crosspoint.reporting.rows import HEADLINE, PRIMARY
from crosspoint.sources.registry import SOURCES

DVC_YAML = Path("dvc.yaml")
RULES_DIR = Path("workflow/rules")
SOURCES_DIR = "crosspoint/sources"  # one package per source name: crosspoint/sources/<source>/

@dataclass(frozen=True)
class Axis:
    """One dimension of a stage's instances, named like its Snakemake wildcard.

    ``param``: a params key holding a list (``sample.datasets``) or a mapping whose keys are the
    instances (``datasets``, with ``mapping=True``); ``values``: a fixed list instead.
    """

    name: str
    param: str | None = None
    values: tuple[str, ...] = ()
    mapping: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: list[str]  # data dependencies; the code ones are added from the command's imports (all_deps)
    params: list[str]
    outs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # small JSON, committed to git (cache: false)
    plots: dict[str, dict] = field(default_factory=dict)  # path -> DVC plot properties (cache: false)
    committed: list[str] = field(default_factory=list)  # other small outputs kept in git (cache: false)
    # outputs shown in `snakemake --report`: path -> (caption file in workflow/report/, category: the stage
    # whose result it shows, numbered in pipeline order)
    report: dict[str, tuple[str, str]] = field(default_factory=dict)
    over: tuple[Axis, ...] = ()  # one axis: DVC foreach; several: DVC matrix
    persist: bool = False  # DVC keeps the outs while the stage runs (resumable training)
    # per instance, the code of the instance's dataset's source too (crosspoint/sources/<source>/; the stage's
    # own imports reach no source package); only for a stage over the datasets mapping (prepare)
    source_code: bool = False
    # Snakemake scheduling hints (ignored by DVC).
    threads: int = 1
    mem_mb: int = 2000
    runtime: int = 30  # minutes
    gpus: int = 0
    group: str = "data"


# The pretrain keys both variants read (the rest of the section is per variant: pretrain.cls, pretrain.seg).
# tests/test_pipeline.py checks this against crosspoint.training.params.Params.
# (``seeds`` is the list of instances: each run reads only its own seed, from the command line.)
PRETRAIN_SHARED = ["datasets", "lr", "weight_decay", "temperature", "w_imid", "w_cmid", "val_fraction",
                   "val_every", "selection", "val_retrieval_max", "val_classifier", "svm_c", "knn_k", "val_batch_size", "val_max_fit", "workers",
                   "sync_bn", "global_negatives", "precision", "point_augment", "image_augment"]
SEEDS = Axis("seed", param="pretrain.seeds")
PRETRAIN_DATASETS = Axis("dataset", param="pretrain.datasets")


def command_module(stage: Stage) -> str:
    """The module that runs the stage's ``crosspoint COMMAND``."""
    from crosspoint.cli import COMMANDS

    return COMMANDS[stage.cmd.split()[1]][0]


def all_deps(stage: Stage) -> list[str]:
    """The stage's data dependencies, then every project file its process imports (:mod:`crosspoint.code_deps`):
    what every instance depends on (for a ``source_code`` stage, less its source's package: :func:`source_code`)."""
    code = set(code_deps(command_module(stage)))
    if stage.source_code:
        packages = tuple(f"{SOURCES_DIR}/{s}/" for s in SOURCES)
        reached = sorted(f for f in code if f.startswith(packages))
        if reached:
            raise CodeDepsError(
                f"stage {stage.name} imports {', '.join(reached)} for every instance: its instances would depend "
                f"on sources their datasets do not use; load sources through crosspoint.sources.registry only")
        # what the sources share (crosspoint/sources/*.py, the store, ...): every instance runs some of it
        for s in SOURCES:
            code |= {f for f in code_deps(f"crosspoint.sources.{s}") if not f.startswith(packages)}
    return [*stage.deps, *sorted(code)]


def source_code(stage: Stage) -> dict[str, tuple[str, ...]]:
    """Source name -> the files of its package: what an instance of a ``source_code`` stage whose dataset has
    that source depends on besides :func:`all_deps`. Raises :class:`~crosspoint.code_deps.CodeDepsError`
    when a source's package imports anything outside its folder but the stage's common code."""
    axis = stage.over[0] if len(stage.over) == 1 else None
    if axis is None or not axis.mapping:
        raise ValueError(f"stage {stage.name}: source_code needs one axis over a mapping of datasets")
    common = all_deps(stage)
    return {s: package_files(f"crosspoint.sources.{s}", common) for s in SOURCES}


def _section_keys(section: str, module: str, but: tuple[str, ...] = ("datasets",)) -> list[str]:
    """``section.<field>`` for every field of ``module.Params`` except ``but``: what one instance of a
    per-dataset stage reads, without the list of datasets (adding a dataset reruns only its stages)."""
    import dataclasses
    import importlib

    fields = dataclasses.fields(importlib.import_module(module).Params)
    return [f"{section}.{f.name}" for f in fields if f.name not in but]

STAGES: list[Stage] = [
    Stage(
        name="prepare",
        cmd="crosspoint prepare --dataset {dataset}",
        deps=[],
        params=["datasets.{dataset}"],
        outs=[paths.prepared("{dataset}"), paths.prepared_rejects("{dataset}")],
        over=(Axis("dataset", param="datasets", mapping=True),),
        source_code=True,  # prepare@synth runs crosspoint/sources/synthetic/ and no other source
        runtime=120,
    ),
    Stage(
        name="render",
        cmd="crosspoint render --dataset {dataset} --shard {shard}",
        deps=[paths.prepared("{dataset}")],
        params=["render", "datasets.{dataset}"],
        outs=[paths.render_shard("{dataset}", "{shard}"), paths.render_rejects("{dataset}", "{shard}")],
        over=(PRETRAIN_DATASETS, Axis("shard", param="render.shards")),
        threads=2,
        mem_mb=4000,
        runtime=240,
    ),
    Stage(
        name="merge_views",
        cmd="crosspoint merge-views --dataset {dataset}",
        # the point store too: the view store records its md5, which pretraining checks, so a new point
        # store reaches pretrain through data/views (DVC cannot list pretrain.datasets' point stores as deps)
        deps=[paths.render_shard("{dataset}", "{each:render.shards}"), paths.prepared("{dataset}"),
              paths.points("{dataset}")],
        params=["render", "datasets.{dataset}"],
        outs=[paths.views("{dataset}")],
        plots={paths.contact_sheet("{dataset}"): {}},
        report={paths.contact_sheet("{dataset}"): ("contact_sheet.rst", "1 render")},
        over=(PRETRAIN_DATASETS,),
        mem_mb=4000,
    ),
    Stage(
        name="sample",
        cmd="crosspoint sample --dataset {dataset} --shard {shard}",
        deps=[paths.prepared("{dataset}")],
        params=_section_keys("sample", "crosspoint.points.sampling"),
        outs=[paths.points_shard("{dataset}", "{shard}"), paths.points_shard_rejects("{dataset}", "{shard}")],
        over=(Axis("dataset", param="sample.datasets"), Axis("shard", param="sample.shards")),
    ),
    Stage(
        name="merge_points",
        cmd="crosspoint merge-points --dataset {dataset}",
        deps=[paths.points_shard("{dataset}", "{each:sample.shards}"),
              paths.points_shard_rejects("{dataset}", "{each:sample.shards}"), paths.prepared("{dataset}")],
        params=_section_keys("sample", "crosspoint.points.sampling"),
        outs=[paths.points("{dataset}"), paths.points_rejects("{dataset}")],
        over=(Axis("dataset", param="sample.datasets"),),
    ),
    Stage(
        name="scan",
        cmd="crosspoint scan --dataset {dataset}",
        deps=[paths.prepared("{dataset}")],
        params=[*_section_keys("scan", "crosspoint.points.scans"), "scan.datasets.{dataset}"],
        outs=[paths.points("{dataset}_scan"), paths.points_rejects("{dataset}_scan")],
        over=(Axis("dataset", param="scan.datasets", mapping=True),),
        threads=2,
        runtime=120,
    ),
    Stage(
        name="pretrain",
        cmd="crosspoint pretrain --variant {variant} --seed {seed}",
        deps=[paths.views("{each:pretrain.datasets}")],  # each view store pins its point store (merge_views)
        params=["pretrain.{variant}", *(f"pretrain.{key}" for key in PRETRAIN_SHARED)],
        outs=[paths.best_checkpoint("{variant}", "{seed}"), paths.last_checkpoint("{variant}", "{seed}"),
              paths.snapshots("{variant}", "{seed}")],
        persist=True,  # kept while the stage runs, so a killed run resumes from last.pt
        committed=[f"{paths.pretrain_live('{variant}', '{seed}')}/metrics.json"],
        plots={f"{paths.pretrain_live('{variant}', '{seed}')}/plots/metrics": {"x": "step"}},
        over=(Axis("variant", values=("cls", "seg")), SEEDS),
        threads=8,
        mem_mb=16000,
        runtime=1440,
        gpus=1,
        group="train",
    ),
    Stage(
        name="features",
        cmd="crosspoint features --dataset {dataset} --shard {shard} --seed {seed}",
        deps=[paths.points("{dataset}"), paths.best_checkpoint("cls", "{seed}")],
        params=_section_keys("features", "crosspoint.evaluate.extraction"),
        outs=[paths.features_shard("{dataset}", "{shard}", "{seed}")],
        over=(Axis("dataset", param="features.datasets"), Axis("shard", param="features.shards"), SEEDS),
        threads=4,
        mem_mb=8000,
        runtime=120,
        gpus=1,
        group="eval",
    ),
    Stage(
        name="merge_features",
        cmd="crosspoint merge-features --dataset {dataset} --seed {seed}",
        deps=[paths.features_shard("{dataset}", "{each:features.shards}", "{seed}"), paths.points("{dataset}")],
        params=_section_keys("features", "crosspoint.evaluate.extraction"),
        outs=[paths.features("{dataset}", "{seed}")],
        over=(Axis("dataset", param="features.datasets"), SEEDS),
        group="eval",
    ),
    Stage(
        name="linear_svm",
        cmd="crosspoint linear-svm --dataset {dataset}",
        deps=[paths.features("{dataset}", "{each:pretrain.seeds}")],
        params=[*_section_keys("linear_svm", "crosspoint.evaluate.linear_svm"), "pretrain.seeds"],
        committed=[paths.metrics("linear_svm_{dataset}")],
        plots={paths.plots("confusion_{dataset}.csv"): {"template": "confusion", "x": "predicted", "y": "actual"}},
        over=(Axis("dataset", param="linear_svm.datasets"),),
        threads=2,
        group="eval",
    ),
    Stage(
        name="steps",
        cmd="crosspoint steps --dataset {dataset}",
        deps=[paths.points("{dataset}"), paths.snapshots("cls", "{each:pretrain.seeds}")],
        params=[*(f"features.{key}" for key in ("points", "subset", "seed", "batch_size", "device")),
                *_section_keys("linear_svm", "crosspoint.evaluate.linear_svm"), "pretrain.seeds"],
        committed=[paths.metrics("steps_{dataset}")],
        over=(Axis("dataset", param="steps.datasets"),),
        threads=2,
        group="eval",
    ),
    Stage(
        name="fewshot",
        cmd="crosspoint fewshot --dataset {dataset}",
        # both inputs whichever fewshot.features says (a dep cannot depend on a param): the features
        # stage's files (shared) and the points store with the cls checkpoints (own)
        deps=[paths.features("{dataset}", "{each:pretrain.seeds}"), paths.points("{dataset}"),
              paths.best_checkpoint("cls", "{each:pretrain.seeds}")],
        params=[*_section_keys("fewshot", "crosspoint.evaluate.fewshot"), "pretrain.seeds"],
        committed=[paths.metrics("fewshot_{dataset}")],
        over=(Axis("dataset", param="fewshot.datasets"),),
        # room for fewshot.features: own (a whole store through two encoders per seed); no GPU asked
        # for (the SLURM profile maps the GPU rules)
        threads=4,
        mem_mb=8000,
        runtime=120,
        group="eval",
    ),
    Stage(
        name="partseg",
        cmd="crosspoint partseg --dataset {p:partseg.dataset} --seed {seed}",
        deps=[paths.points("{p:partseg.dataset}"), paths.best_checkpoint("seg", "{seed}")],
        params=["partseg"],
        outs=[paths.partseg_state("{seed}")],
        persist=True,  # kept while the stage runs, so a killed run resumes from it
        committed=[paths.partseg_metrics("{seed}")],
        plots={paths.partseg_curves("{seed}"): {"x": "epoch"}, paths.partseg_examples("{seed}"): {}},
        report={paths.partseg_examples("{seed}"): ("partseg_examples.rst", "5 partseg")},
        over=(SEEDS,),
        threads=8,
        mem_mb=16000,
        runtime=1440,
        gpus=1,
        group="train",
    ),
    Stage(
        name="report",
        cmd="crosspoint report",
        deps=[paths.metrics("linear_svm_{each:linear_svm.datasets}"),
              paths.metrics("fewshot_{each:fewshot.datasets}"), paths.partseg_metrics("{each:pretrain.seeds}"),
              paths.metrics("steps_{each:steps.datasets}"),
              paths.features("{p:report.tsne_dataset}", "{each:pretrain.seeds}"),
              paths.plots("confusion_{p:report.tsne_dataset}.csv"),
              f"{paths.pretrain_live('cls', '{each:pretrain.seeds}')}/plots/metrics",
              f"{paths.pretrain_live('seg', '{each:pretrain.seeds}')}/plots/metrics",
              paths.partseg_curves("{each:pretrain.seeds}")],
        params=["report", "linear_svm", "fewshot", "partseg", "steps", "pretrain.seeds"],
        metrics=[PRIMARY],
        committed=[paths.tables("summary.csv"), paths.tables("summary.md"), HEADLINE],
        plots={paths.figures("tsne_{p:report.tsne_dataset}.png"): {},
               paths.figures("confusion_{p:report.tsne_dataset}.png"): {},
               paths.figures("pretrain_curves.png"): {}, paths.figures("partseg_curves.png"): {},
               paths.figures("gain_vs_steps.png"): {}},
        report={paths.tables("summary.csv"): ("summary.rst", "0 summary"),
                paths.figures("pretrain_curves.png"): ("pretrain_curves.rst", "2 pretrain"),
                paths.figures("tsne_{p:report.tsne_dataset}.png"): ("tsne.rst", "3 features"),
                paths.figures("confusion_{p:report.tsne_dataset}.png"): ("confusion.rst", "4 linear_svm"),
                paths.figures("partseg_curves.png"): ("partseg_curves.rst", "5 partseg")},
        group="eval",
    ),
]


# ---------------------------------------------------------------------------------------------
# DVC

_PARAM_REF = re.compile(r"\{p:([A-Za-z0-9_.]+)\}")
_EACH_REF = re.compile(r"\{each:([A-Za-z0-9_.]+)\}")


def _axis_refs(stage: Stage) -> dict[str, str]:
    """How DVC spells each axis placeholder of the stage."""
    if len(stage.over) == 1:
        axis = stage.over[0]
        return {axis.name: "${key}" if axis.mapping else "${item}"}
    return {axis.name: "${item." + axis.name + "}" for axis in stage.over}


def _dvc_text(text: str, stage: Stage) -> str:
    for name, ref in _axis_refs(stage).items():
        text = text.replace("{" + name + "}", ref)
    return _PARAM_REF.sub(lambda m: "${" + m.group(1) + "}", text)


def to_dvc(stages: list[Stage]) -> dict:
    """The dvc.yaml document for ``stages``."""
    out: dict = {"stages": {}}
    for st in stages:
        deps: list[str] = []
        for d in all_deps(st):
            if _EACH_REF.search(d):
                # DVC cannot expand a list into several deps; depend on the folder the instances share
                # (the deepest folder above the first path component that names the list).
                parts = Path(d).parts
                first = next(i for i, part in enumerate(parts) if _EACH_REF.search(part))
                deps.append(_dvc_text(str(Path(*parts[:first])), st))
            else:
                deps.append(_dvc_text(d, st))
        if st.source_code:
            source_code(st)  # checks every source's package
            deps.append(f"{SOURCES_DIR}/${{item.source}}")
        folders = [d + "/" for d in deps if not Path(d).suffix]
        deps = [d for d in deps if not any(d.startswith(f) for f in folders)]  # covered by a folder dep
        body: dict = {"cmd": _dvc_text(st.cmd, st), "deps": _dedupe(deps),
                      "params": [_dvc_text(p, st) for p in st.params]}
        outs: list = [{_dvc_text(o, st): {"persist": True}} if st.persist else _dvc_text(o, st) for o in st.outs]
        outs += [{_dvc_text(o, st): {"cache": False}} for o in st.committed]
        if outs:
            body["outs"] = outs
        if st.metrics:
            body["metrics"] = [{_dvc_text(m, st): {"cache": False}} for m in st.metrics]
        if st.plots:
            body["plots"] = [{_dvc_text(p, st): {"cache": False, **props}} for p, props in st.plots.items()]
        values = {a.name: list(a.values) if a.param is None else "${" + a.param + "}" for a in st.over}
        if not st.over:
            out["stages"][st.name] = body
        elif len(st.over) == 1:
            out["stages"][st.name] = {"foreach": values[st.over[0].name], "do": body}
        else:
            out["stages"][st.name] = {"matrix": values, **body}
    # figures made outside the stages (`crosspoint compare`), committed, shown by `dvc plots show` too
    out["plots"] = [paths.figures("ablation.png")]
    return out


def _dedupe(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


def render_dvc_yaml(stages: list[Stage] = STAGES) -> str:
    header = (
        "# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.\n"
        "# The same stages are in workflow/rules/*.smk for Snakemake (tests check they agree).\n"
    )
    return header + yaml.safe_dump(to_dvc(stages), sort_keys=False, width=120)


# ---------------------------------------------------------------------------------------------
# Snakemake


def _smk_path(text: str, stage: Stage) -> str:
    """A Python expression for an input/output path: a plain string, an f-string reading the config,
    or an ``expand`` over a list parameter. Axis placeholders stay as Snakemake wildcards."""
    each = _EACH_REF.search(text)
    if each:
        pattern = _EACH_REF.sub("{_each}", text)
        for axis in stage.over:  # wildcards inside expand() are escaped
            pattern = pattern.replace("{" + axis.name + "}", "{{" + axis.name + "}}")
        if _PARAM_REF.search(pattern):  # an f-string that fills in the params, leaving {_each} to expand()
            pattern = pattern.replace("{", "{{").replace("}", "}}")
            pattern = re.sub(r"\{\{p:([A-Za-z0-9_.]+)\}\}", lambda m: "{P('" + m.group(1) + "')}", pattern)
            return f'expand(f"{pattern}", _each=P("{each.group(1)}"))'
        return f'expand("{pattern}", _each=P("{each.group(1)}"))'
    if _PARAM_REF.search(text):
        text = text.replace("{", "{{").replace("}", "}}")
        text = re.sub(r"\{\{p:([A-Za-z0-9_.]+)\}\}", lambda m: "{P('" + m.group(1) + "')}", text)
        return 'f"' + text + '"'
    return f'"{text}"'


def _param_entry(key: str, stage: Stage) -> str:
    """A rule's params entry for one declared params key (per-instance keys read the wildcard; a key
    naming another param's value, ``datasets.{p:render.dataset}``, reads that value)."""
    if _PARAM_REF.search(key):
        name = _PARAM_REF.sub(lambda m: m.group(1), key).replace(".", "_")
        inner = _PARAM_REF.sub(lambda m: "{P('" + m.group(1) + "')}", key)
        return f'{name}=P(f"{inner}"),'
    for axis in stage.over:
        marker = ".{" + axis.name + "}"
        if key.endswith(marker):
            head = key[: -len(marker)]
            return f'{head.replace(".", "_")}_{axis.name}=lambda wildcards: P("{head}")[wildcards.{axis.name}],'
    return f'{key.replace(".", "_")}=P("{key}"),'


def to_smk(stage: Stage) -> str:
    """One Snakemake rule, as text, equivalent to the DVC stage."""
    lines = [f"rule {stage.name}:"]
    if stage.over:
        lines.append("    wildcard_constraints:")
        for axis in stage.over:
            values = f'P("{axis.param}")' if axis.param else repr(list(axis.values))
            lines.append(f"        {axis.name}=one_of({values}),")
    lines.append("    input:")
    lines += [f"        {_smk_path(d, stage)}," for d in _dedupe(all_deps(stage))]
    if stage.source_code:
        axis = stage.over[0]
        lines.append(f'        lambda wildcards: SOURCE_CODE[P("{axis.param}")[wildcards.{axis.name}]["source"]],')
    lines.append("    output:")
    for o in [*stage.outs, *stage.committed, *stage.metrics, *stage.plots]:
        expr = _smk_path(o, stage)
        expr = expr if Path(o).suffix else f"directory({expr})"
        if o in stage.report:
            sub = "".join(f", subcategory=\"{axis.name} {{{axis.name}}}\"" for axis in stage.over)
            caption, category = stage.report[o]
            expr = f'report({expr}, caption="../report/{caption}", category="{category}"{sub})'
        lines.append(f"        {expr},")
    lines.append("    params:")
    lines += [f"        {_param_entry(key, stage)}" for key in stage.params]
    for key in _PARAM_REF.findall(stage.cmd):
        if key not in stage.params:
            lines.append(f'        {key.replace(".", "_")}=P("{key}"),')
    log = "_".join([f"logs/{stage.name}", *("{" + a.name + "}" for a in stage.over)]) + ".log"
    lines += ["    log:", f'        "{log}",']
    lines += ["    conda:", '        "../envs/crosspoint.yaml"']
    lines.append(f"    threads: {stage.threads}")
    lines += ["    resources:", f"        mem_mb={stage.mem_mb},", f"        runtime={stage.runtime},"]
    if stage.gpus:
        lines.append(f"        gpu={stage.gpus},")
    cmd = stage.cmd
    for axis in stage.over:
        cmd = cmd.replace("{" + axis.name + "}", "{wildcards." + axis.name + "}")
    cmd = _PARAM_REF.sub(lambda m: "{params." + m.group(1).replace(".", "_") + "}", cmd)
    lines += ["    shell:", f'        "{cmd} > {{log}} 2>&1"']
    return "\n".join(lines) + "\n"


RULE_HEADER = "# Generated from crosspoint/pipeline.py by `crosspoint dag --write`; do not edit by hand.\n\n"


def _smk_source_code(stage: Stage) -> str:
    """The table a ``source_code`` stage's rule reads its per-source inputs from."""
    if not stage.source_code:
        return ""
    lines = ["# source -> the files of its package (crosspoint/sources/<source>/): what an instance runs for its",
             "# dataset's source, besides the inputs every instance has", "SOURCE_CODE = {"]
    for source, files in source_code(stage).items():
        lines.append(f'    "{source}": [')
        lines += [f'        "{f}",' for f in files]
        lines.append("    ],")
    return "\n".join([*lines, "}"]) + "\n\n\n"


def render_smk_rules(stages: list[Stage] = STAGES) -> dict[str, str]:
    """Rule files by name, one per stage."""
    return {f"{st.name}.smk": RULE_HEADER + _smk_source_code(st) + to_smk(st) for st in stages}


# ---------------------------------------------------------------------------------------------
# CLI: crosspoint dag --write | --check


# ---------------------------------------------------------------------------------------------
# docs/pipeline.md: what an edit to each part of the package reruns

PIPELINE_DOC = Path("docs/pipeline.md")
RERUNS_BEGIN = "<!-- edit-reruns: generated by `crosspoint dag --write`; do not edit by hand -->"
RERUNS_END = "<!-- /edit-reruns -->"


def code_groups() -> dict[str, list[str]]:
    """The package's files grouped as a reader edits them: a top-level module alone, a package whole (the
    stages one by one: each is its own stage's entry point; in ``crosspoint/sources/`` the shared modules
    together and each source's package on its own)."""
    root = Path(__file__).resolve().parents[1]
    groups: dict[str, list[str]] = {}
    for path in sorted((root / "crosspoint").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if rel.startswith(SOURCES_DIR + "/"):
            group = "/".join(parts[:3]) + "/" if len(parts) > 3 else SOURCES_DIR + "/*.py"
        elif len(parts) > 2 and parts[1] != "stages":
            group = "/".join(parts[:2]) + "/"
        else:
            group = rel
        groups.setdefault(group, []).append(rel)
    return groups


def edit_reruns_table(stages: list[Stage] = STAGES) -> str:
    """Markdown: for each module or package, the stages whose code deps it is in (every instance of each), or
    the instances of a ``source_code`` stage whose dataset's source it is."""
    deps = {st.name: set(all_deps(st)) for st in stages}
    per_source = {st.name: source_code(st) for st in stages if st.source_code}
    lines = ["| an edit to | reruns |", "|---|---|"]
    for group, files in code_groups().items():
        hit = [name for name, d in deps.items() if d & set(files)]
        some = [f"the `{name}` instances whose dataset has `source: {source}`"
                for name, code in per_source.items() for source, f in code.items() if set(f) & set(files)]
        shown = ", ".join([*(f"`{n}`" for n in hit), *some]) or "nothing (not run by any stage)"
        lines.append(f"| `{group}` | {'every stage' if len(hit) == len(stages) else shown} |")
    return "\n".join(lines) + "\n"


def pipeline_doc() -> str:
    """docs/pipeline.md with its generated table brought up to date."""
    text = PIPELINE_DOC.read_text()
    head, _, rest = text.partition(RERUNS_BEGIN)
    _, _, tail = rest.partition(RERUNS_END)
    return f"{head}{RERUNS_BEGIN}\n{edit_reruns_table()}{RERUNS_END}{tail}"


def expected_files() -> dict[Path, str]:
    files = {DVC_YAML: render_dvc_yaml()}
    for name, text in render_smk_rules().items():
        files[RULES_DIR / name] = text
    if PIPELINE_DOC.exists() and RERUNS_BEGIN in PIPELINE_DOC.read_text():
        files[PIPELINE_DOC] = pipeline_doc()
    return files


def drift() -> list[str]:
    """Generated files that differ from (or are missing in) the working tree."""
    problems = []
    for path, text in expected_files().items():
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text() != text:
            problems.append(f"{path} differs from the stage list in crosspoint/pipeline.py")
    for path in RULES_DIR.glob("*.smk"):
        if path not in expected_files() and path.name != "common.smk":
            problems.append(f"{path} is not generated from the stage list (remove it)")
    snakefile = Path("workflow/Snakefile").read_text() if Path("workflow/Snakefile").exists() else ""
    for st in STAGES:
        if f'include: "rules/{st.name}.smk"' not in snakefile:
            problems.append(f"workflow/Snakefile does not include rules/{st.name}.smk")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write dvc.yaml and workflow/rules/*.smk")
    mode.add_argument("--check", action="store_true", help="fail when they differ from the stage list")


def main(args: argparse.Namespace) -> None:
    if args.write:
        from crosspoint.store import write_text

        for path, text in expected_files().items():
            write_text(path, text)
            print(f"wrote {path}")
        return
    problems = drift()
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        from crosspoint.store import StageError

        raise StageError("dvc.yaml / workflow rules are out of date: run `crosspoint dag --write`")
    print("dvc.yaml and workflow/rules agree with crosspoint/pipeline.py")
