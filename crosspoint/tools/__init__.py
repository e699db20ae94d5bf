"""Commands that are not pipeline stages: the ablation grid and comparisons, presets, params checks and
docs, importing the authors' weights."""
