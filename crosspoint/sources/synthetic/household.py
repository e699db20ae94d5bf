"""The synthetic household-object classes that are not furniture: one builder each for lamp,
bottle, mug, vase and guitar, built mostly from surfaces of revolution (bodies, necks, shades),
swept tubes (handles, goosenecks) and extruded outlines (the guitar's body and head). Each builder
``_name(obj, rng)`` adds its parts to the :class:`~crosspoint.sources.synthetic.primitives._Object`
in a fixed order of random draws.
"""

from __future__ import annotations

import numpy as np

from crosspoint import exact
from crosspoint.sources.synthetic.primitives import (
    _box,
    _densify,
    _ellipsoid,
    _extrude,
    _lathe,
    _mirror_x,
    _Object,
    _rot,
    _rot_to,
    _strut,
    _torus,
    _tube,
    _u,
    _xf,
)


def _lamp(o: _Object, rng: np.random.Generator) -> None:
    kind = rng.choice(["desk", "floor", "arm"], p=[0.4, 0.35, 0.25])
    rb = _u(rng, 0.08, 0.22) * (1.3 if kind == "floor" else 1.0)
    hb = _u(rng, 0.02, 0.08)
    base = rng.choice(["disc", "box", "dome"], p=[0.5, 0.2, 0.3])
    if base == "disc":
        o.add("base", _strut((0, 0, 0), (0, hb, 0), rb, rb * _u(rng, 0.6, 1.0)))
    elif base == "box":
        o.add("base", _box((2 * rb, hb, 2 * rb * _u(rng, 0.6, 1.0)), (0, hb / 2, 0)))
    else:
        a = np.linspace(0, np.pi / 2, 8)
        hb = hb * 1.5
        o.add("base", _lathe(np.r_[0, rb * np.cos(a)], np.r_[0, hb * np.sin(a)], closed=False))
    rs = _u(rng, 0.008, 0.025)
    if kind == "floor":
        top = np.array([0.0, _u(rng, 1.2, 1.8), 0.0])
        o.add("stem", _strut((0, 0, 0), top, rs))
        axis = np.array([0.0, -1.0, 0.0])
    elif kind == "desk" and rng.random() < 0.45:  # curved gooseneck
        hgt, reach = _u(rng, 0.25, 0.6), _u(rng, 0.1, 0.35)
        s = np.linspace(0, 1, 14)
        path = np.column_stack([reach * s**2, hgt * np.sin(s * np.pi / 2), np.zeros_like(s)])
        o.add("stem", _tube(path, rs))
        top = path[-1]
        axis = np.array([_u(rng, 0.0, 0.6), -1.0, 0.0])
    elif kind == "desk":
        top = np.array([0.0, _u(rng, 0.25, 0.6), 0.0])
        o.add("stem", _strut((0, 0, 0), top, rs))
        axis = np.array([0.0, -1.0, 0.0])
    else:  # articulated arm: two struts and joints
        a1, a2 = _u(rng, 0.2, 0.7), _u(rng, 0.8, 2.0)
        l1, l2 = _u(rng, 0.25, 0.5), _u(rng, 0.2, 0.45)
        j = np.array([l1 * np.sin(a1), hb + l1 * np.cos(a1), 0.0])
        top = j + np.array([l2 * np.sin(a2), l2 * np.cos(a2), 0.0])
        o.add("stem", _strut((0, hb, 0), j, rs), _strut(j, top, rs), _ellipsoid((rs * 2,) * 3, j))
        axis = np.array([_u(rng, 0.2, 1.0), -1.0, 0.0])
    axis /= exact.norm(axis)
    style = rng.choice(["drum", "cone", "globe", "dome"], p=[0.4, 0.25, 0.15, 0.2])
    size = _u(rng, 0.08, 0.18) * (1.8 if kind == "floor" else 1.0)
    e = size * 0.04
    if style == "drum":  # open frustum shell, wide end down
        rt = size * _u(rng, 0.45, 0.9)
        hh = size * _u(rng, 0.8, 1.6)
        shade = _lathe([size, rt, rt - e, size - e], [0, hh, hh, 0], closed=True)
        shade = _xf(shade, None, (0, -hh * 0.6, 0))
    elif style == "cone":
        hh = size * _u(rng, 0.7, 1.5)
        shade = _lathe([size, rs * 1.5, rs * 1.5 - e * 0.5, size - e], [0, hh, hh, 0], closed=True)
        shade = _xf(shade, None, (0, -hh, 0))
    elif style == "globe":
        shade = _ellipsoid((size * 0.7, size * _u(rng, 0.6, 0.8), size * 0.7), (0, -size * 0.6, 0))
    else:
        a = np.linspace(0, np.pi / 2, 9)
        outer_r, outer_y = size * np.cos(a), size * np.sin(a)
        shade = _lathe(np.r_[outer_r, outer_r[::-1] * 0.96], np.r_[outer_y, outer_y[::-1] * 0.96], closed=True)
        shade = _xf(shade, None, (0, -size, 0))
    # the shade is built hanging down the -y axis from the stem's end; aim it along ``axis``
    o.add("shade", _xf(shade, _rot_to((0, -1, 0), axis), top))


def _bottle(o: _Object, rng: np.random.Generator) -> None:
    r = _u(rng, 0.12, 0.3)
    hb = r * _u(rng, 2.0, 5.0)
    rn = r * _u(rng, 0.2, 0.45)
    shoulder = _u(rng, 0.55, 0.85)
    if rng.random() < 0.2:  # square body with a round shoulder
        hs = hb * shoulder
        o.add("body", _box((2 * r, hs, 2 * r * _u(rng, 0.6, 1.0)), (0, hs / 2, 0)))
        o.add("body", _strut((0, hs, 0), (0, hb, 0), r * 0.98, rn))
    else:
        s = np.linspace(0, 1, 14)
        wall = 1 + _u(rng, -0.15, 0.1) * np.sin(np.pi * s / shoulder * 0.999) * (s < shoulder)
        sh = np.clip((s - shoulder) / (1 - shoulder), 0, 1)
        rad = np.where(s < shoulder, r * wall, rn + (r - rn) * np.cos(sh * np.pi / 2) ** _u(rng, 0.6, 2.0))
        corner = r * 0.1
        o.add("body", _lathe(np.r_[0, r - corner, rad, 0], np.r_[0, 0, np.maximum(s * hb, corner * 0.5), hb]))
    ln = r * _u(rng, 0.4, 1.5)
    o.add("neck", _strut((0, hb - 0.02 * ln, 0), (0, hb + ln, 0), rn, rn * _u(rng, 0.8, 1.1)))
    if rng.random() < 0.5:
        o.add("neck", _torus(rn * 1.05, rn * 0.15, (0, hb + ln * 0.8, 0)))
    if rng.random() < 0.8:
        if rng.random() < 0.3:  # cork
            o.add("cap", _strut((0, hb + ln * 0.7, 0), (0, hb + ln * 1.3, 0), rn * 0.8, rn * 0.95))
        else:
            o.add("cap", _strut((0, hb + ln * 0.85, 0), (0, hb + ln + rn * _u(rng, 0.6, 2.0), 0),
                                rn * _u(rng, 1.05, 1.3)))


def _mug(o: _Object, rng: np.random.Generator) -> None:
    r = _u(rng, 0.3, 0.5)
    h = 2 * r * _u(rng, 0.75, 1.5)
    rt = r * _u(rng, 0.85, 1.2)
    w = r * _u(rng, 0.05, 0.1)
    c = r * 0.08
    o.add("body", _lathe([0, r - c, r, rt, rt - w, r - w, 0], [0, 0, c, h, h, w, w]))
    y0, y1 = h * _u(rng, 0.1, 0.3), h * _u(rng, 0.7, 0.9)
    hw = r * _u(rng, 0.35, 0.8)
    power = _u(rng, 1.0, 4.0)
    a = np.linspace(-np.pi / 2, np.pi / 2, 17)
    cx, sy = np.cos(a), np.sin(a)
    xs = hw * np.abs(cx) ** (2 / power / 2) * np.sign(cx)
    ys = (y0 + y1) / 2 + (y1 - y0) / 2 * np.abs(sy) ** (2 / power / 2) * np.sign(sy)
    wall_r = r + (rt - r) * ys / h - w / 2
    path = np.column_stack([wall_r + xs, ys, np.zeros_like(xs)])
    o.add("handle", _xf(_tube(path, r * _u(rng, 0.06, 0.12)), _rot((0, 1, 0), _u(rng, 0, 2 * np.pi))))


def _vase(o: _Object, rng: np.random.Generator) -> None:
    h = _u(rng, 0.8, 2.0)
    r = h * _u(rng, 0.15, 0.4)
    hb = h * _u(rng, 0.6, 0.88)
    s = np.linspace(0, 1, 18)
    r0, r1 = r * _u(rng, 0.35, 0.8), r * _u(rng, 0.2, 0.6)
    bulge = _u(rng, 0.1, 0.8) * np.sin(np.pi * s ** _u(rng, 0.5, 2.0))
    ripple = _u(rng, 0.0, 0.08) * np.sin(_u(rng, 2, 5) * np.pi * s + _u(rng, 0, 2 * np.pi))
    rad = r0 + (r1 - r0) * s + r * (bulge + ripple)
    rad[-1] = r1
    o.add("body", _lathe(np.r_[0, rad], np.r_[0, s * hb]))
    rl = r1 * _u(rng, 0.7, 1.8)
    s2 = np.linspace(0, 1, 8)
    neck_r = r1 + (rl - r1) * s2 ** _u(rng, 1.0, 3.0)
    neck_y = hb - 0.01 * h + (h - hb) * s2
    e = r * 0.04
    o.add("neck", _lathe(np.r_[neck_r, neck_r[::-1] - e], np.r_[neck_y, neck_y[::-1]], closed=True))
    if rng.random() < 0.3:
        ya, yb = hb * _u(rng, 0.6, 0.85), hb + (h - hb) * _u(rng, 0.3, 0.8)
        ra = np.interp(ya / hb, s, rad)
        rb = np.interp((yb - hb) / (h - hb), s2, neck_r)
        out = max(ra, rb) + r * _u(rng, 0.2, 0.5)
        path = _densify(np.array([[ra * 0.95, ya, 0], [out, (ya + yb) / 2, 0], [rb * 0.95, yb, 0]]), 4)
        handle = _tube(path, r * _u(rng, 0.04, 0.08))
        o.add("handle", handle, _mirror_x(handle))


def _guitar(o: _Object, rng: np.random.Generator) -> None:
    rl = _u(rng, 0.3, 0.45)
    ru = rl * _u(rng, 0.6, 0.85)
    dist = (rl + ru) * _u(rng, 0.7, 0.95)
    y0 = (dist - ru + rl) / 2  # inside both circles: the outline is star-shaped about (0, y0)
    theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    dirs = np.column_stack([np.cos(theta), np.sin(theta)])

    def exit_dist(cy: float, rad: float) -> np.ndarray:
        b = dirs[:, 1] * (y0 - cy)
        return -b + np.sqrt(b**2 - ((y0 - cy) ** 2 - rad**2))

    dist_out = np.maximum(exit_dist(0.0, rl), exit_dist(dist, ru))
    electric = rng.random() < 0.35
    if electric:
        dist_out *= 1 + _u(rng, 0.05, 0.15) * np.sin(2 * theta + _u(rng, 0, 2 * np.pi)) + \
            _u(rng, 0.0, 0.1) * np.sin(3 * theta + _u(rng, 0, 2 * np.pi))
    outline = np.column_stack([dist_out * dirs[:, 0], y0 + dist_out * dirs[:, 1]])
    tb = rl * (_u(rng, 0.12, 0.2) if electric else _u(rng, 0.3, 0.5))
    o.add("body", _extrude(outline, tb, center=(0, y0)))
    if rng.random() < 0.6:  # bridge
        o.add("body", _box((rl * 0.5, rl * 0.08, tb * 0.15), (0, rl * _u(rng, -0.45, -0.2), tb / 2)))
    wn = rl * _u(rng, 0.18, 0.3)
    tn = wn * _u(rng, 0.5, 0.8)
    y_neck0 = float(outline[:, 1].max()) - ru * 0.3
    ln = float(np.ptp(outline[:, 1])) * _u(rng, 0.6, 0.95)
    zn = tb / 2 - tn / 2 + tn * 0.3
    o.add("neck", _box((wn, ln, tn), (0, y_neck0 + ln / 2, zn)))
    lh = wn * _u(rng, 2.0, 3.5)
    wh = wn * _u(rng, 1.1, 2.0)
    tilt = _rot((1, 0, 0), -_u(rng, 0.0, 0.3))
    head = np.array([[-wn / 2, 0], [wn / 2, 0], [wh / 2, lh * _u(rng, 0.6, 1.0)], [wh / 2 * _u(rng, 0.3, 1.0), lh],
                     [-wh / 2, lh]])
    o.add("head", _xf(_extrude(head, tn * 0.8, center=(0, lh / 2)), tilt, (0, y_neck0 + ln - 0.01, zn)))
