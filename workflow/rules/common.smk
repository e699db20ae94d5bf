# Helpers shared by the generated rule files (kept apart from the rules, as `snakemake --lint` asks).
import re


def P(key):
    """The value of a dotted params key, e.g. P("render.dataset")."""
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def one_of(values):
    """A wildcard constraint matching exactly the given values."""
    return "|".join(re.escape(str(v)) for v in values)
