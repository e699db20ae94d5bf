"""Procedural, part-annotated meshes: the offline stand-in for ShapeNet / ModelNet.

Fifteen object classes, each assembled from named parts (a chair is seat + back + legs [+ arms],
an airplane fuselage + wings + tail [+ engines], ...). Parts are built from trimesh primitives
(boxes, cylinders, cones, spheres, cached once at unit size and then scaled and placed) and from
three generic shape makers written in :mod:`.primitives`: surfaces of revolution (``_lathe``:
bottles, vases, fuselages, lamp shades), tubes swept along a path (``_tube``: handles, tori, bent
stems) and extruded star-shaped outlines (``_extrude``: wings, fins, guitar bodies, car profiles).

Every object has random proportions, optional parts and variable part counts (3-6 legs, 3-4
fins, ...), then a mild whole-object deformation (taper, twist, bend, anisotropic scale) and a
random colour per part instance. Parts are shared between classes (legs of chairs, tables,
benches, stools, beds and sofas are the same struts), so a class is told by its arrangement of
parts rather than by one telltale shape.

Object ``i`` of class ``c`` is generated from ``numpy.random.default_rng([seed, c, i])`` with ``c``
the class's index in :data:`CLASSES`, so changing the number of objects or the class selection
never changes the other objects. The y axis points up.

The package: :mod:`.generator` holds the public API (the class tables :data:`CLASS_PARTS`,
:data:`OPTIONAL_PARTS` and :data:`CLASSES`, :class:`Params`, :class:`SyntheticSource`,
:func:`generate_object` and the class -> builder table), re-exported here; :mod:`.primitives` the
mesh-building helpers; :mod:`.furniture`, :mod:`.household` and :mod:`.vehicles` one builder per class.
"""

from crosspoint.sources.synthetic.generator import (
    CLASS_PARTS,
    CLASSES,
    OPTIONAL_PARTS,
    Params,
    SyntheticSource,
    generate_object,
)

__all__ = ["CLASSES", "CLASS_PARTS", "OPTIONAL_PARTS", "Params", "SyntheticSource", "generate_object"]
