"""Headless rendering, shared by the render and scan stages (and anyone else who renders): the OpenGL
platform and pyrender's import (:mod:`~crosspoint.rendering.backend`), camera geometry
(:mod:`~crosspoint.rendering.camera`), the mesh store and mesh checks (:mod:`~crosspoint.rendering.meshes`),
the pyrender primitives (:mod:`~crosspoint.rendering.primitives`) and the offscreen renderer
(:mod:`~crosspoint.rendering.renderer`); the render stage's view shards (:mod:`~crosspoint.rendering.views`),
their merge (:mod:`~crosspoint.rendering.merge`) and the stored 3D-R2N2 renders (:mod:`~crosspoint.rendering.r2n2`).

This file holds no code: importing any module of the package runs it, so whatever it imported would become
a code dependency of every stage that uses one of them.
"""
