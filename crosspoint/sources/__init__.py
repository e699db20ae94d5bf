"""Dataset sources and the prepare stage's work.

The shared modules sit here (:mod:`.registry`: the source names and the parsing of ``datasets:``;
:mod:`.helpers`, :mod:`.base`, :mod:`.mesh_files`, :mod:`.off`, :mod:`.ply`, :mod:`.download`, ...;
:mod:`.prepare`: the stores); each source is a package of its own, ``crosspoint/sources/<name>/``, which
imports shared modules only. This file imports nothing: what it imported every ``prepare`` instance would
depend on.
"""
