"""The synthetic vehicle classes: one builder each for airplane, rocket and car, with the
airplane's helpers (``_fuselage_profile`` for the lathed fuselage, ``_wing`` for extruded wings and
stabilisers). Each builder ``_name(obj, rng)`` adds its parts to the
:class:`~crosspoint.sources.synthetic.primitives._Object` in a fixed order of random draws.
"""

from __future__ import annotations

import numpy as np

from crosspoint import exact
from crosspoint.sources.synthetic.primitives import (
    VF,
    _box,
    _cone,
    _extrude,
    _lathe,
    _mirror_x,
    _Object,
    _rot,
    _strut,
    _torus,
    _u,
    _xf,
)


def _fuselage_profile(length: float, radius: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tail_r = _u(rng, 0.1, 0.4)
    nose_len = _u(rng, 0.08, 0.2)
    tail_len = _u(rng, 0.2, 0.4)
    s = np.linspace(0, 1, 22)
    f = np.ones_like(s)
    tail = s < tail_len
    f[tail] = tail_r + (1 - tail_r) * np.sin(s[tail] / tail_len * np.pi / 2)
    nose = s > 1 - nose_len
    f[nose] = np.sqrt(np.clip(1 - ((s[nose] - (1 - nose_len)) / nose_len) ** 2, 0, 1))
    f[-1] = 0.0
    return np.r_[0.0, radius * f], np.r_[0.0, length * s]


def _wing(span: float, chord: float, taper: float, sweep: float, thick: float) -> VF:
    """Planform in (span x, chord z) with the root leading edge at the origin; thickness along y."""
    outline = np.array([[0, 0], [span, -sweep], [span, -sweep - chord * taper], [0, -chord]])
    m = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # polygon x -> x, polygon y -> z, depth -> y
    return _xf(_extrude(outline, thick), m)


def _airplane(o: _Object, rng: np.random.Generator) -> None:
    lf = _u(rng, 2.5, 4.0)
    r = lf * _u(rng, 0.035, 0.075)
    pr, py = _fuselage_profile(lf, r, rng)
    o.add("fuselage", _xf(_lathe(pr, py), _rot((1, 0, 0), np.pi / 2), (0, 0, -lf / 2)))  # nose to +z
    span = lf * _u(rng, 0.35, 0.75)
    chord = lf * _u(rng, 0.1, 0.25)
    taper = _u(rng, 0.2, 0.8)
    sweep = span * _u(rng, -0.05, 0.6)
    thick = chord * _u(rng, 0.05, 0.12)
    dihedral = _u(rng, -0.05, 0.12)
    zw = lf * _u(rng, 0.0, 0.2)
    yw = r * _u(rng, -0.6, 0.6)
    wing = _xf(_wing(span, chord, taper, sweep, thick), _rot((0, 0, 1), dihedral), (0, yw, zw))
    o.add("wing", wing, _mirror_x(wing))
    # tail: vertical fin (polygon in z-y, depth along x) and horizontal stabilisers
    fin_h = span * _u(rng, 0.2, 0.45)
    fin_c = chord * _u(rng, 0.6, 1.2)
    fin_sweep = fin_c * _u(rng, 0.2, 0.9)
    z_tail = -lf / 2 + fin_c * 0.15
    fin_outline = np.array([[0, 0], [fin_c, 0], [fin_c - fin_sweep * 0.3, fin_h],
                            [fin_c * _u(rng, 0.3, 0.7) - fin_sweep * 0.3 + 0.0, fin_h]])
    m = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])  # polygon x -> z, y -> y, depth -> x
    o.add("tail", _xf(_extrude(fin_outline, fin_c * 0.08), m, (0, r * 0.5, z_tail)))
    t_tail = rng.random() < 0.25
    st_span = span * _u(rng, 0.2, 0.4)
    st_chord = chord * _u(rng, 0.4, 0.7)
    y_st = r * 0.5 + fin_h * 0.95 if t_tail else r * _u(rng, 0.0, 0.5)
    stab = _xf(_wing(st_span, st_chord, _u(rng, 0.4, 0.9), st_span * _u(rng, 0.0, 0.5), st_chord * 0.08),
               None, (0, y_st, z_tail + st_chord + (fin_c - fin_sweep * 0.3 if t_tail else 0.0) * 0.3))
    o.add("tail", stab, _mirror_x(stab))
    n_eng = int(rng.choice([0, 2, 4], p=[0.3, 0.5, 0.2]))
    if n_eng:
        re = r * _u(rng, 0.3, 0.6)
        le = chord * _u(rng, 0.5, 1.0)
        fracs = [_u(rng, 0.25, 0.4)] if n_eng == 2 else [_u(rng, 0.2, 0.3), _u(rng, 0.55, 0.7)]
        for frac in fracs:
            x = span * frac
            y = yw + np.tan(dihedral) * x - thick / 2 - re * 1.1
            z = zw - sweep * frac + le * 0.5
            prof_r = [0.0, re * 0.8, re, re, re * 0.7, 0.0]
            prof_y = [0.0, 0.0, le * 0.2, le * 0.8, le, le]
            nac = _xf(_lathe(prof_r, prof_y, sections=16), _rot((1, 0, 0), np.pi / 2), (x, y, z - le))
            o.add("engine", nac, _mirror_x(nac))


def _rocket(o: _Object, rng: np.random.Generator) -> None:
    r = _u(rng, 0.08, 0.2)
    hb = r * _u(rng, 6, 14)
    o.add("body", _strut((0, 0, 0), (0, hb, 0), r))
    top, r_top = hb, r
    if rng.random() < 0.35:  # second stage on an adapter
        r2 = r * _u(rng, 0.55, 0.85)
        ha = r * _u(rng, 0.3, 1.0)
        h2 = hb * _u(rng, 0.2, 0.5)
        o.add("body", _strut((0, hb, 0), (0, hb + ha, 0), r, r2), _strut((0, hb + ha, 0), (0, hb + ha + h2, 0), r2))
        top, r_top = hb + ha + h2, r2
    ln = r_top * _u(rng, 1.5, 4.0)
    if rng.random() < 0.4:
        o.add("nose", _cone((0, top, 0), (0, top + ln, 0), r_top))
    else:
        s = np.linspace(0, 1, 12)
        o.add("nose", _lathe(np.r_[r_top * np.sqrt(1 - s[:-1] ** _u(rng, 1.5, 3.0)), 0.0], top + ln * s))
    n_fins = int(rng.integers(3, 5))
    c = hb * _u(rng, 0.12, 0.3)
    span = r * _u(rng, 0.8, 2.2)
    drop = c * _u(rng, -0.1, 0.5)
    tip = c * _u(rng, 0.2, 0.8)
    outline = np.array([[0, 0], [span, -drop], [span, -drop + tip], [0, c]])
    fin = _extrude(outline, r * _u(rng, 0.06, 0.15))  # radial along x, up along y, thin along z
    y0 = hb * _u(rng, 0.0, 0.08) + max(drop, 0.0)
    phase = _u(rng, 0, 2 * np.pi)
    for k in range(n_fins):
        turn = _rot((0, 1, 0), phase + 2 * np.pi * k / n_fins)
        o.add("fin", _xf(fin, turn, exact.transform(np.array([r * 0.9, y0, 0.0]), turn)))
    if rng.random() < 0.25:  # boosters
        nb = int(rng.choice([2, 4]))
        rb = r * _u(rng, 0.3, 0.5)
        hbst = hb * _u(rng, 0.3, 0.6)
        for a in phase + np.pi / n_fins + 2 * np.pi * np.arange(nb) / nb:
            x, z = (r + rb) * np.cos(a), (r + rb) * np.sin(a)
            o.add("body", _strut((x, y0, z), (x, y0 + hbst, z), rb))
            o.add("nose", _cone((x, y0 + hbst, z), (x, y0 + hbst + rb * 2.5, z), rb))
    if rng.random() < 0.7:
        ln = r * _u(rng, 0.4, 1.2)
        rt, rbot = r * _u(rng, 0.3, 0.6), r * _u(rng, 0.6, 0.95)
        s = np.linspace(0, 1, 6)
        prof = rt + (rbot - rt) * s**_u(rng, 0.5, 1.0)
        e = r * 0.04
        o.add("nozzle", _lathe(np.r_[prof[::-1], prof - e], np.r_[-ln * s[::-1], -ln * s] + e, closed=True))


def _car(o: _Object, rng: np.random.Generator) -> None:
    length = _u(rng, 3.4, 5.2)
    w = length * _u(rng, 0.36, 0.46)
    rw = length * _u(rng, 0.065, 0.095)
    c = rw * _u(rng, 0.45, 0.8)
    hb = length * _u(rng, 0.08, 0.15)
    kind = rng.choice(["sedan", "hatch", "van", "pickup"], p=[0.45, 0.2, 0.15, 0.2])
    to_side = np.array([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])  # polygon (z, y), depth along x
    hood = length * _u(rng, 0.03, 0.1)
    profile = np.array([[-length / 2, c], [length / 2, c], [length / 2, c + hb * _u(rng, 0.5, 0.8)],
                        [length / 2 - hood, c + hb], [-length / 2 + length * _u(rng, 0.02, 0.08), c + hb],
                        [-length / 2, c + hb * _u(rng, 0.6, 0.9)]])
    o.add("body", _xf(_extrude(profile, w), to_side))
    lc = length * {"sedan": _u(rng, 0.4, 0.55), "hatch": _u(rng, 0.45, 0.6), "van": _u(rng, 0.7, 0.85),
                   "pickup": _u(rng, 0.25, 0.35)}[kind]
    zc = {"sedan": _u(rng, -0.12, 0.02), "hatch": _u(rng, -0.25, -0.12), "van": _u(rng, -0.1, 0.0),
          "pickup": _u(rng, 0.0, 0.15)}[kind] * length
    hc = hb * _u(rng, 0.6, 1.1)
    front, rear = lc * _u(rng, 0.1, 0.35), lc * (_u(rng, 0.02, 0.1) if kind in ("hatch", "van") else _u(rng, 0.1, 0.3))
    cabin = np.array([[-lc / 2, 0], [lc / 2, 0], [lc / 2 - front, hc], [-lc / 2 + rear, hc]])
    o.add("cabin", _xf(_extrude(cabin, w * _u(rng, 0.8, 0.95)), to_side, (0, c + hb * 0.98, zc)))
    if kind == "pickup":  # bed walls behind the cabin
        zb0, zb1 = -length / 2 + 0.05, zc - lc / 2 - 0.05
        wh = hb * _u(rng, 0.3, 0.5)
        for sx in (-1, 1):
            o.add("body", _box((0.05, wh, zb1 - zb0), (sx * (w / 2 - 0.025), c + hb + wh / 2, (zb0 + zb1) / 2)))
        o.add("body", _box((w, wh, 0.05), (0, c + hb + wh / 2, zb0 + 0.025)))
    if rng.random() < 0.15 and kind != "pickup":
        o.add("body", _box((w * 0.9, 0.03, length * 0.08), (0, c + hb + hc * 0.5, -length / 2 + length * 0.05)))
    axles = [length / 2 - length * _u(rng, 0.13, 0.22), -length / 2 + length * _u(rng, 0.13, 0.22)]
    if kind in ("van", "pickup") and rng.random() < 0.3:
        axles.append(axles[1] + 2.3 * rw)
    tr = rw * _u(rng, 0.25, 0.4)
    tw = tr * _u(rng, 1.2, 2.0)
    for z in axles:
        for sx in (-1, 1):
            x = sx * (w / 2 - tw * _u(rng, 0.2, 0.6))
            o.add("wheel", _torus(rw - tr, tr, (x, rw, z), axis=(1, 0, 0), sections=20),
                  _strut((x - tw / 2, rw, z), (x + tw / 2, rw, z), rw - tr * 0.9))
