"""The synthetic furniture classes: one builder each for table, chair, bench, stool, bed, sofa and
bookshelf, and the part makers they share (``_LegStyle`` and ``_legs`` for struts as legs,
``_pedestal`` for a central column on a disc or radial feet, ``_ring_positions`` and
``_corner_positions`` for where legs go, ``_slab_top`` for a board or disc top). Each builder
``_name(obj, rng)`` adds its parts to the :class:`~crosspoint.sources.synthetic.primitives._Object`
in a fixed order of random draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crosspoint.sources.synthetic.primitives import (
    VF,
    _box,
    _densify,
    _ellipsoid,
    _extrude,
    _Object,
    _rot,
    _strut,
    _torus,
    _tube,
    _u,
    _unit,
    _xf,
)

# ---------------------------------------------------------------------------------------------
# Shared part makers: legs, pedestals, tops


@dataclass
class _LegStyle:
    radius: float
    square: bool
    taper: float  # radius at the floor / radius at the top
    splay: float  # outward lean of the foot, relative to the top's distance from the centre

    @classmethod
    def draw(cls, rng: np.random.Generator, r_lo: float, r_hi: float) -> _LegStyle:
        return cls(
            radius=_u(rng, r_lo, r_hi),
            square=bool(rng.random() < 0.4),
            taper=_u(rng, 0.45, 0.9) if rng.random() < 0.4 else 1.0,
            splay=_u(rng, 0.05, 0.25) if rng.random() < 0.3 else 0.0,
        )


def _legs(obj: _Object, style: _LegStyle, tops: Sequence[tuple[float, float]], y_top: float,
          y_bottom: float = 0.0, name: str = "leg") -> None:
    for x, z in tops:
        foot = (x * (1 + style.splay), y_bottom, z * (1 + style.splay))
        obj.add(name, _strut(foot, (x, y_top, z), style.radius * style.taper, style.radius, style.square))


def _pedestal(obj: _Object, rng: np.random.Generator, y_top: float, spread: float, name: str = "leg") -> None:
    """A central column on a disc or on 3-6 radial feet (office chairs, bistro tables, stools)."""
    r = spread * _u(rng, 0.08, 0.2)
    if rng.random() < 0.5:
        hb = _u(rng, 0.02, 0.06) * y_top
        obj.add(name, _strut((0, 0, 0), (0, hb, 0), spread * _u(rng, 0.6, 1.0)))
        obj.add(name, _strut((0, hb, 0), (0, y_top, 0), r * _u(rng, 0.8, 1.5), r))
    else:
        hf = _u(rng, 0.05, 0.15) * y_top
        obj.add(name, _strut((0, hf * 0.5, 0), (0, y_top, 0), r))
        n = int(rng.integers(3, 7))
        phase = _u(rng, 0, 2 * np.pi)
        fr = r * _u(rng, 0.35, 0.7)
        for a in phase + 2 * np.pi * np.arange(n) / n:
            foot = (spread * np.cos(a), 0.0, spread * np.sin(a))
            obj.add(name, _strut((0, hf, 0), foot, fr, fr * 0.7, square=bool(rng.random() < 0.5)))


def _ring_positions(n: int, radius: float, phase: float) -> list[tuple[float, float]]:
    a = phase + 2 * np.pi * np.arange(n) / n
    return [(radius * np.cos(t), radius * np.sin(t)) for t in a]


def _corner_positions(half_w: float, half_d: float, six: bool = False) -> list[tuple[float, float]]:
    pts = [(sx * half_w, sz * half_d) for sx in (-1, 1) for sz in (-1, 1)]
    if six:
        pts += [(0.0, -half_d), (0.0, half_d)]
    return pts


def _slab_top(rng: np.random.Generator, w: float, d: float, t: float, y: float, round_p: float) -> VF:
    """A flat board: a box, or a (possibly elliptic) disc."""
    if rng.random() < round_p:
        return _xf(_unit("cylinder"), None, (0, y, 0), (w / 2, t, d / 2))
    return _box((w, t, d), (0, y, 0))


# ---------------------------------------------------------------------------------------------
# Classes: furniture


def _table(o: _Object, rng: np.random.Generator) -> None:
    h = _u(rng, 0.6, 1.0)
    t = _u(rng, 0.025, 0.08)
    round_top = rng.random() < 0.3
    if round_top:
        w = _u(rng, 0.8, 1.6)
        d = w * (_u(rng, 0.6, 1.0) if rng.random() < 0.4 else 1.0)
    else:
        w, d = _u(rng, 0.9, 2.4), _u(rng, 0.5, 1.3)
    o.add("top", _slab_top(rng, w, d, t, h - t / 2, 1.0 if round_top else 0.0))
    y_top = h - t
    style = _LegStyle.draw(rng, 0.015, 0.055)
    config = rng.choice(["legs", "pedestal", "panels"], p=[0.7, 0.15, 0.15])
    if config == "pedestal":
        _pedestal(o, rng, y_top, min(w, d) * _u(rng, 0.25, 0.45))
    elif config == "panels":
        inset = _u(rng, 0.03, 0.15) * w
        pt = _u(rng, 0.02, 0.06)
        pd = d * _u(rng, 0.5, 0.95)
        for sx in (-1, 1):
            o.add("leg", _box((pt, y_top, pd), (sx * (w / 2 - inset), y_top / 2, 0)))
        if rng.random() < 0.5:
            ys = y_top * _u(rng, 0.1, 0.4)
            o.add("leg", _strut((-(w / 2 - inset), ys, 0), (w / 2 - inset, ys, 0), pt * 0.6, square=True))
    else:
        if round_top:
            tops = _ring_positions(int(rng.integers(3, 7)), min(w, d) / 2 * _u(rng, 0.5, 0.85),
                                   _u(rng, 0, 2 * np.pi))
            tops = [(x * w / min(w, d), z * d / min(w, d)) for x, z in tops]
        else:
            inset = _u(rng, 0.02, 0.12)
            tops = _corner_positions(w / 2 - inset, d / 2 - inset, six=w > 1.6 and rng.random() < 0.5)
        style.splay = min(style.splay, 0.1)
        _legs(o, style, tops, y_top)
        if rng.random() < 0.35:
            xs = max(abs(x) for x, _ in tops)
            zs = max(abs(z) for _, z in tops)
            o.add("shelf", _box((2 * xs, t * _u(rng, 0.5, 1.0), 2 * zs), (0, y_top * _u(rng, 0.12, 0.35), 0)))


def _chair(o: _Object, rng: np.random.Generator) -> None:
    hs = _u(rng, 0.4, 0.55)
    w, d = _u(rng, 0.38, 0.62), _u(rng, 0.38, 0.6)
    t = _u(rng, 0.03, 0.09)
    round_seat = rng.random() < 0.2
    o.add("seat", _slab_top(rng, w, d, t, hs - t / 2, 1.0 if round_seat else 0.0))
    y_seat = hs - t
    config = rng.choice(["legs", "pedestal", "sled"], p=[0.7, 0.18, 0.12])
    if config == "pedestal":
        _pedestal(o, rng, y_seat, max(w, d) * _u(rng, 0.45, 0.6))
    elif config == "sled":
        r = _u(rng, 0.01, 0.025)
        for sx in (-1, 1):
            x = sx * w / 2 * _u(rng, 0.8, 0.95)
            zf, zb = d / 2 * _u(rng, 0.8, 1.1), -d / 2 * _u(rng, 0.8, 1.1)
            path = np.array([[x, y_seat, zf * 0.8], [x, r, zf], [x, r, zb], [x, y_seat, zb * 0.8]])
            o.add("leg", _tube(_densify(path, 6), r))
    else:
        style = _LegStyle.draw(rng, 0.012, 0.035)
        if round_seat:
            tops = _ring_positions(int(rng.integers(3, 6)), min(w, d) / 2 * _u(rng, 0.55, 0.85),
                                   _u(rng, 0, 2 * np.pi))
        else:
            inset = _u(rng, 0.0, 0.06)
            tops = _corner_positions(w / 2 - inset - style.radius, d / 2 - inset - style.radius)
        _legs(o, style, tops, y_seat)
        if rng.random() < 0.3:  # stretchers between the legs
            ys = y_seat * _u(rng, 0.2, 0.45)
            for (x0, z0), (x1, z1) in zip(tops, tops[1:] + tops[:1], strict=True):
                if not round_seat and abs(x0 - x1) > 1e-9 and abs(z0 - z1) > 1e-9:
                    continue
                s = 1 + style.splay * (1 - ys / y_seat)
                o.add("leg", _strut((x0 * s, ys, z0 * s), (x1 * s, ys, z1 * s), style.radius * 0.5))
    # back, built about the pivot at the seat's rear edge, then tilted backwards
    hb = _u(rng, 0.3, 0.7)
    wb = w * _u(rng, 0.7, 1.0)
    tb = _u(rng, 0.02, 0.06)
    back: list[VF] = []
    kind = rng.choice(["solid", "slats", "rails"], p=[0.5, 0.3, 0.2])
    if kind == "solid":
        back.append(_box((wb, hb, tb), (0, hb / 2, 0)))
    else:
        pr = _u(rng, 0.012, 0.03)
        for sx in (-1, 1):
            back.append(_strut((sx * (wb / 2 - pr), 0, 0), (sx * (wb / 2 - pr), hb, 0), pr, square=True))
        rail_h = _u(rng, 0.05, 0.2) * hb
        back.append(_box((wb, rail_h, tb), (0, hb - rail_h / 2, 0)))
        n = int(rng.integers(2, 6))
        if kind == "slats":
            for x in np.linspace(-wb / 2, wb / 2, n + 2)[1:-1]:
                back.append(_box((wb / (3 * n), hb - rail_h, tb * 0.6), (x, (hb - rail_h) / 2, 0)))
        else:
            for y in np.linspace(0, hb - rail_h, n + 1)[1:-1]:
                back.append(_box((wb, rail_h * 0.6, tb * 0.6), (0, y, 0)))
    tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.3))
    o.add("back", *[_xf(m, tilt, (0, hs, -d / 2 + tb / 2)) for m in back])
    if rng.random() < 0.35:
        ha = _u(rng, 0.15, 0.3)
        ta = _u(rng, 0.025, 0.06)
        for sx in (-1, 1):
            x = sx * (w / 2 + _u(rng, -0.02, 0.04))
            o.add("arm", _box((ta, ta * 0.8, d * _u(rng, 0.7, 1.0)), (x, hs + ha, 0)))
            o.add("arm", _strut((x, hs - t, d / 2 * 0.8), (x, hs + ha, d / 2 * 0.8), ta * 0.4))


def _bench(o: _Object, rng: np.random.Generator) -> None:
    length, d, h = _u(rng, 1.1, 2.4), _u(rng, 0.3, 0.55), _u(rng, 0.38, 0.5)
    t = _u(rng, 0.03, 0.08)
    if rng.random() < 0.4:
        n = int(rng.integers(3, 6))
        bw = d / n * _u(rng, 0.6, 0.9)
        for z in np.linspace(-d / 2 + bw / 2, d / 2 - bw / 2, n):
            o.add("seat", _box((length, t, bw), (0, h - t / 2, z)))
    else:
        o.add("seat", _box((length, t, d), (0, h - t / 2, 0)))
    y_top = h - t
    config = rng.choice(["legs", "panels", "aframe"], p=[0.55, 0.25, 0.2])
    inset = _u(rng, 0.03, 0.2) * length / 2
    if config == "legs":
        style = _LegStyle.draw(rng, 0.015, 0.04)
        _legs(o, style, _corner_positions(length / 2 - inset, d / 2 * _u(rng, 0.6, 0.9),
                                          six=length > 1.7 and rng.random() < 0.6), y_top)
    elif config == "panels":
        pt = _u(rng, 0.03, 0.08)
        for sx in (-1, 1):
            o.add("leg", _box((pt, y_top, d * _u(rng, 0.7, 1.0)), (sx * (length / 2 - inset), y_top / 2, 0)))
    else:
        r = _u(rng, 0.015, 0.035)
        sq = bool(rng.random() < 0.5)
        for sx in (-1, 1):
            x = sx * (length / 2 - inset)
            for sz in (-1, 1):
                o.add("leg", _strut((x, 0, sz * d / 2 * _u(rng, 0.7, 1.1)), (x, y_top, 0), r, square=sq))
    if rng.random() < 0.5:
        hb = _u(rng, 0.25, 0.5)
        tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.3))
        z0 = -d / 2
        pr = _u(rng, 0.015, 0.035)
        n_posts = 3 if length > 1.7 and rng.random() < 0.5 else 2
        parts = [_strut((x, 0, 0), (x, hb, 0), pr, square=True)
                 for x in np.linspace(-(length / 2 - inset), length / 2 - inset, n_posts)]
        if rng.random() < 0.5:
            parts.append(_box((length, hb * _u(rng, 0.4, 0.7), _u(rng, 0.02, 0.05)), (0, hb * 0.65, 0)))
        else:
            for y in np.linspace(hb * 0.35, hb, int(rng.integers(2, 4))):
                parts.append(_box((length, hb * 0.12, 0.03), (0, y - hb * 0.06, 0)))
        o.add("back", *[_xf(m, tilt, (0, h, z0)) for m in parts])


def _stool(o: _Object, rng: np.random.Generator) -> None:
    h = _u(rng, 0.45, 0.85)
    r = _u(rng, 0.14, 0.25)
    t = _u(rng, 0.03, 0.07)
    round_seat = rng.random() < 0.7
    o.add("seat", _slab_top(rng, 2 * r, 2 * r, t, h - t / 2, 1.0 if round_seat else 0.0))
    y_top = h - t
    if rng.random() < 0.2:
        _pedestal(o, rng, y_top, r * _u(rng, 1.0, 1.5))
        if rng.random() < 0.5:
            yr = y_top * _u(rng, 0.25, 0.45)
            rr = r * _u(rng, 0.7, 1.0)
            o.add("rung", _torus(rr, _u(rng, 0.008, 0.02), (0, yr, 0)))
            o.add("rung", _strut((-rr, yr, 0), (rr, yr, 0), 0.01))
        return
    style = _LegStyle.draw(rng, 0.012, 0.03)
    style.splay = _u(rng, 0.0, 0.6)
    n = int(rng.integers(3, 5)) if round_seat else 4
    rt = r * _u(rng, 0.55, 0.8)
    tops = _ring_positions(n, rt, _u(rng, 0, 2 * np.pi) if round_seat else np.pi / 4)
    _legs(o, style, tops, y_top)
    if rng.random() < 0.55:
        frac = _u(rng, 0.25, 0.45)
        yr = y_top * frac
        s = 1 + style.splay * (1 - frac)
        rod = _u(rng, 0.007, 0.018)
        if round_seat and rng.random() < 0.6:
            o.add("rung", _torus(rt * s, rod, (0, yr, 0)))
        else:
            for (x0, z0), (x1, z1) in zip(tops, tops[1:] + tops[:1], strict=True):
                o.add("rung", _strut((x0 * s, yr, z0 * s), (x1 * s, yr, z1 * s), rod))


def _bed(o: _Object, rng: np.random.Generator) -> None:
    w, length = _u(rng, 0.9, 2.0), _u(rng, 1.9, 2.3)
    has_legs = rng.random() < 0.6
    legh = _u(rng, 0.06, 0.25) if has_legs else 0.0
    fh = _u(rng, 0.12, 0.3)
    o.add("frame", _box((w, fh, length), (0, legh + fh / 2, 0)))
    mh = _u(rng, 0.12, 0.3)
    y_mat = legh + fh
    o.add("mattress", _box((w * _u(rng, 0.9, 1.0), mh, length * _u(rng, 0.9, 0.99)), (0, y_mat + mh / 2, 0)))
    th = _u(rng, 0.04, 0.1)
    hh = y_mat + mh + _u(rng, 0.2, 0.8)
    zh = -length / 2 - th / 2
    if rng.random() < 0.5:
        o.add("headboard", _box((w, hh, th), (0, hh / 2, zh)))
    else:  # arched top, optionally with posts
        arch = _u(rng, 0.05, 0.3)
        xs = np.linspace(-w / 2, w / 2, 17)
        top = hh - arch + arch * np.cos(xs / (w / 2) * np.pi / 2)
        outline = np.concatenate([np.column_stack([xs, top]), [[w / 2, 0.0], [-w / 2, 0.0]]])
        o.add("headboard", _xf(_extrude(outline, th, center=(0, hh / 3)), None, (0, 0, zh)))
        if rng.random() < 0.5:
            pr = _u(rng, 0.03, 0.06)
            for sx in (-1, 1):
                o.add("headboard", _strut((sx * w / 2, 0, zh), (sx * w / 2, hh * _u(rng, 1.0, 1.15), zh), pr,
                                          square=bool(rng.random() < 0.5)))
    if rng.random() < 0.35:
        hf = y_mat + _u(rng, 0.0, 0.4)
        o.add("frame", _box((w, hf, th), (0, hf / 2, length / 2 + th / 2)))
    if has_legs:
        style = _LegStyle.draw(rng, 0.025, 0.06)
        style.splay = 0.0
        _legs(o, style, _corner_positions(w / 2 - 0.06, length / 2 - 0.06, six=rng.random() < 0.3), legh + 0.01)
    n_pillows = int(rng.choice([0, 1, 2], p=[0.25, 0.35, 0.4]))
    if n_pillows == 1:
        xs = [0.0]
    else:
        xs = [-w / 4, w / 4]
    for x in xs[:n_pillows]:
        pw = w / (2 * n_pillows) * _u(rng, 0.7, 0.95) if n_pillows else 0
        o.add("pillow", _ellipsoid((pw, _u(rng, 0.04, 0.09), _u(rng, 0.12, 0.22)),
                                   (x, y_mat + mh + 0.03, -length / 2 + _u(rng, 0.2, 0.35))))


def _sofa(o: _Object, rng: np.random.Generator) -> None:
    w, d = _u(rng, 1.3, 2.6), _u(rng, 0.7, 1.0)
    has_legs = rng.random() < 0.65
    legh = _u(rng, 0.05, 0.15) if has_legs else 0.0
    hs = _u(rng, 0.35, 0.5)
    has_arms = rng.random() < 0.85
    wa = _u(rng, 0.08, 0.25) if has_arms else 0.0
    tb = _u(rng, 0.12, 0.3)
    inner = w - 2 * wa
    n = int(rng.integers(1, 4))
    cw = inner / n
    base_h = (hs - legh) * _u(rng, 0.4, 0.7)
    o.add("seat", _box((inner, base_h, d - tb), (0, legh + base_h / 2, tb / 2)))
    for i in range(n):
        x = -inner / 2 + cw * (i + 0.5)
        ch = hs - legh - base_h
        o.add("seat", _box((cw * 0.97, ch, (d - tb) * 0.97), (x, legh + base_h + ch / 2, tb / 2)))
    if rng.random() < 0.2:  # chaise section
        side = rng.choice([-1, 1])
        ext = d * _u(rng, 0.5, 0.9)
        o.add("seat", _box((cw, hs - legh, ext), (side * (inner / 2 - cw / 2), legh + (hs - legh) / 2, d / 2 + ext / 2)))
    hb = _u(rng, 0.3, 0.6)
    tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.25))
    o.add("back", _xf(_box((w, hs + hb - legh, tb), (0, (hs + hb - legh) / 2, 0)), tilt, (0, legh, -d / 2 + tb / 2)))
    if rng.random() < 0.4:  # back cushions
        for i in range(n):
            x = -inner / 2 + cw * (i + 0.5)
            o.add("back", _box((cw * 0.95, hb * 0.9, tb * 0.6), (x, hs + hb * 0.45, -d / 2 + tb * 1.3)))
    if has_arms:
        ha = hs + _u(rng, 0.08, 0.3)
        rounded = rng.random() < 0.4
        for sx in (-1, 1):
            x = sx * (w / 2 - wa / 2)
            top = ha - (wa / 2 if rounded else 0.0)
            o.add("arm", _box((wa, top - legh, d), (x, legh + (top - legh) / 2, 0)))
            if rounded:
                o.add("arm", _strut((x, top, -d / 2), (x, top, d / 2), wa / 2))
    if has_legs:
        style = _LegStyle.draw(rng, 0.02, 0.045)
        style.splay = min(style.splay, 0.08)
        _legs(o, style, _corner_positions(w / 2 - 0.08, d / 2 - 0.08, six=w > 2.0 and rng.random() < 0.6),
              legh + 0.01)


def _bookshelf(o: _Object, rng: np.random.Generator) -> None:
    h, w, d = _u(rng, 0.9, 2.2), _u(rng, 0.5, 1.6), _u(rng, 0.22, 0.45)
    t = _u(rng, 0.015, 0.045)
    for sx in (-1, 1):
        o.add("side", _box((t, h, d), (sx * (w / 2 - t / 2), h / 2, 0)))
    n = int(rng.integers(3, 8))
    bottom = _u(rng, 0.0, 0.1)
    top = h - t / 2 if rng.random() < 0.8 else h * _u(rng, 0.8, 0.95)
    ys = np.linspace(bottom + t / 2, top, n)
    ys[1:-1] += rng.uniform(-0.2, 0.2, n - 2) * (top - bottom) / (n - 1)
    for y in ys:
        o.add("shelf", _box((w - 2 * t, t, d), (0, y, 0)))
    if w > 0.9 and rng.random() < 0.35:
        o.add("side", _box((t, top - bottom, d), (_u(rng, -0.2, 0.2) * w, (top + bottom) / 2, 0)))
    if rng.random() < 0.7:
        o.add("back", _box((w, h, t * 0.4), (0, h / 2, -d / 2 - t * 0.2)))
