"""Draw the built-in benchmark images and write their ground truth (`labels.json`).

Why synthetic: the real road-camera frames and catalogue photos that inspired the two scenarios
belong to third parties and cannot be redistributed with the project, so every picture here is
drawn from simple shapes with Pillow alone. Nothing reads the clock, randomness comes only from
`random.Random` with fixed seeds and no metadata is written: two runs give byte-identical files.

How the labels are derived:
- cctv: `title` and `datetime` are the texts overlaid on the frame (the stamp rewritten as ISO
  8601). `traffic_level` is how full the visible road is: each vehicle claims its length plus a
  2.5 m standstill gap, and over the 6 lanes x 100 m of road between 15 and 115 m from the camera
      traffic_level = round(100 * sum(length + 2.5 m) / (6 * 100 m))
  so 0 is an empty road and 100 is every lane full bumper to bumper, i.e. standstill. Vehicles
  are added until the claimed length reaches the frame's target; the label is the true ratio.
- products: `name` and the English, French and Spanish descriptions are written by hand to
  describe what is drawn; `facts` are short phrases per language that a right description states
  (each stated by its reference; `|` separates accepted wordings).

Run `python images/generate.py`: it deletes and redraws `cctv/` and `products/` next to itself.
"""

import json
import math
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import pairwise
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

HERE = Path(__file__).resolve().parent
SEED = 20241120
RGB = tuple[int, int, int]
Span = tuple[float, float]
Draw = ImageDraw.ImageDraw

# title (top-left overlay) | local time | date format of the stamp | target level | scene
# Day-first dates are used only with days above 12, so they can never be read month-first.
FRAMES = """
CAM 31-02 A-62 KM 118.7 VALLADOLID | 2024-03-13 11:08:42 | %d/%m/%Y |  5 | day
CAM 08-15 AP-7 KM 342.1 CASTELLON  | 2024-06-18 17:26:05 | %Y-%m-%d | 25 | day gantry
CAM 27-04 M-40 KM 9.8 MADRID        | 2024-11-22 21:47:19 | %d-%m-%Y | 55 | night gantry
CAM 12-07 A-8 KM 101.3 BILBAO       | 2024-10-14 08:12:57 | %Y-%m-%d | 90 | day
CAM 46-01 V-21 KM 4.2 VALENCIA      | 2025-01-29 05:53:31 | %d/%m/%Y | 15 | night
CAM 29-11 MA-20 KM 6.5 MALAGA       | 2024-08-23 19:04:48 | %Y/%m/%d | 70 | day gantry
"""
# Road scenes are drawn on a 2x canvas and halved when saved, a cheap anti-aliasing.
W, H, CW, CH = 640, 360, 1280, 720
HORIZON, FOCAL, CAM_H = 236.0, 860.0, 8.0  # px, px, m: a pinhole camera 8 m above the median
LANES = (-9.95, -6.45, -2.95, 2.95, 6.45, 9.95)  # lane centres in m; x < 0 drives towards us
Z_NEAR, Z_FAR, GAP = 15.0, 115.0, 2.5  # the counted stretch of road and the standstill gap, m
KINDS = {"car": (1.8, 4.5), "van": (2.0, 5.3), "truck": (2.5, 12.0), "bus": (2.5, 12.0)}
PAINTS = [
    (c >> 16, c >> 8 & 255, c & 255)
    for c in (0xECECEC, 0xC4C6CA, 0x222226, 0x96181C, 0x203E84, 0x5C6066, 0x16483C, 0xCDA028)
]


def tint(c: RGB, k: float, add: int = 0) -> RGB:
    r, g, b = (max(0, min(255, round(v * k) + add)) for v in c)
    return (r, g, b)


def proj(x: float, y: float, z: float) -> tuple[float, float]:
    return (CW / 2 + FOCAL * x / z, HORIZON + FOCAL * (CAM_H - y) / z)


def ground(d: Draw, x0: float, x1: float, z0: float, z1: float, fill: RGB) -> None:
    d.polygon([proj(x0, 0, z0), proj(x1, 0, z0), proj(x1, 0, z1), proj(x0, 0, z1)], fill=fill)


def box(d: Draw, x: Span, y: Span, z: Span, front: RGB, side: RGB, top: RGB) -> list[float]:
    """Draw the faces of an axis-aligned box the camera sees; return the near face's rectangle."""
    (x0, x1), (y0, y1), (za, zb) = x, y, z
    if x0 > 0 or x1 < 0:
        xs = x0 if x0 > 0 else x1
        d.polygon([proj(xs, y0, za), proj(xs, y1, za), proj(xs, y1, zb), proj(xs, y0, zb)], side)
    d.polygon([proj(x0, y1, za), proj(x1, y1, za), proj(x1, y1, zb), proj(x0, y1, zb)], top)
    rect = [*proj(x0, y1, za), *proj(x1, y0, za)]
    d.rectangle(rect, fill=front)
    return rect


def part(rect: Sequence[float], fx0: float, fy0: float, fx1: float, fy1: float) -> list[float]:
    x0, y0, x1, y1 = rect
    return [x0 + (x1 - x0) * fx0, y0 + (y1 - y0) * fy0, x0 + (x1 - x0) * fx1, y0 + (y1 - y0) * fy1]


@dataclass(frozen=True)
class Vehicle:
    kind: str
    x: float
    z: float  # distance of its nearest end, m
    paint: RGB


def place_vehicles(rng: random.Random, target: int) -> tuple[list[Vehicle], int]:
    """Fill the lanes until the claimed road reaches `target` %; return vehicles and true level."""
    room, capacity = Z_FAR - Z_NEAR, len(LANES) * (Z_FAR - Z_NEAR)
    queues: list[list[str]] = [[] for _ in LANES]
    used, total = [0.0] * len(LANES), 0.0
    while True:
        kind = rng.choices(list(KINDS), weights=(72, 14, 10, 4))[0]
        need = KINDS[kind][1] + GAP
        fits = [i for i in range(len(LANES)) if used[i] + need <= room]
        if total + need / 2 > capacity * target / 100 or not fits:
            break
        lane = rng.choice(fits)
        queues[lane].append(kind)
        used[lane] += need
        total += need
    vehicles = []
    for lane, queue in enumerate(queues):  # spread each lane's free road over random gaps
        start = Z_NEAR
        cuts = sorted(rng.uniform(0, room - used[lane]) for _ in queue)
        for cut, kind in zip(cuts, queue, strict=True):
            paint = (240, 240, 238) if kind == "van" and rng.random() < 0.6 else rng.choice(PAINTS)
            vehicles.append(Vehicle(kind, LANES[lane] + rng.uniform(-0.3, 0.3), start + cut, paint))
            start += KINDS[kind][1] + GAP
    return vehicles, round(100 * total / capacity)


def draw_vehicle(d: Draw, g: Draw, v: Vehicle, night: bool) -> None:
    width, length = KINDS[v.kind]
    x, za, zb = (v.x - width / 2, v.x + width / 2), v.z, v.z + length
    away = v.x > 0  # right-hand traffic: the right carriageway shows us rear ends
    body = tint(v.paint, 0.42, 6) if night else v.paint
    side, top = tint(body, 0.72), tint(body, 1.08, 6)
    glass = (14, 16, 22) if night else (44, 54, 66)
    if not night:
        ground(d, x[0] - 0.15, x[1] + 0.25, za - 0.2, zb + 0.4, (72, 72, 76))
    if v.kind in ("car", "van"):
        van = v.kind == "van"
        belt = 1.05 if van else 0.8
        front = box(d, x, (0.3, belt), (za, zb), body, side, top)
        cabin = (za + 1.0, zb - 0.9) if away else (za + 1.4, zb - 0.6)
        if van:
            cabin = (za, zb - 0.4) if away else (za + 0.9, zb)
        cab = box(
            d, (x[0] + 0.12, x[1] - 0.12), (belt, 2.15 if van else 1.45), cabin, glass, glass, top
        )
        if van:
            d.rectangle(part(cab, 0, 0.6 if away else 0.72, 1, 1), fill=body)
    elif v.kind == "truck":
        cab_z, load_z = (
            ((zb - 2.4, zb), (za, zb - 2.6)) if away else ((za, za + 2.4), (za + 2.6, zb))
        )
        cab_paint = tint((v.paint[2], v.paint[0], v.paint[1]), 0.42 if night else 1.0)
        parts = [(cab_z, (0.6, 3.0), cab_paint), (load_z, (0.9, 3.8), body)]
        for zz, yy, paint in sorted(parts, key=lambda p: -p[0][0]):  # far part first
            face = box(d, x, yy, zz, paint, tint(paint, 0.72), tint(paint, 1.08, 6))
        if away:
            for fx in (0.49, 0.51):  # trailer doors
                d.line(part(face, fx, 0.05, fx, 0.95), fill=tint(body, 0.6), width=2)
        else:
            d.rectangle(part(face, 0.05, 0.08, 0.95, 0.45), fill=glass)
        front = part(face, 0, 0.7, 1, 1)
    else:
        front = box(d, x, (0.35, 3.2), (za, zb), body, side, top)
        d.rectangle(part(front, 0.04, 0.08, 0.96, 0.45 if away else 0.55), fill=glass)
        if x[0] > 0 or x[1] < 0:
            xs = x[0] if x[0] > 0 else x[1]
            band = [proj(xs, y, z) for y, z in ((2.9, za + 0.6), (2.9, zb - 0.6), (1.9, zb - 0.6))]
            d.polygon([*band, proj(xs, 1.9, za + 0.6)], fill=glass)  # side windows
    floor = proj(0, 0, za)[1]
    for fx in (0.02, 0.78):  # tyres under the near end
        tyre = part(front, fx, 0.9, fx + 0.2, 1.0)
        d.rectangle((tyre[0], tyre[1], tyre[2], max(floor, tyre[3])), fill=(18, 18, 20))
    d.rectangle(part(front, 0, 0.92, 1, 1), fill=tint(body, 0.5))
    lamp = ((200, 24, 20), (255, 40, 30)) if away else ((226, 226, 214), (255, 250, 228))
    for fx in (0.03, 0.79):
        spot = part(front, fx, 0.3, fx + 0.18, 0.55 if away else 0.6)
        d.rectangle(spot, fill=lamp[night])
        if night:
            cx, cy, r = (spot[0] + spot[2]) / 2, (spot[1] + spot[3]) / 2, 0.4 * FOCAL / za
            g.ellipse((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=tint(lamp[1], 0.8))
    if night and not away:  # headlight beams on the road ahead of the vehicle
        ground(g, x[0] - 0.2, x[1] + 0.2, max(za - 14, 4.0), za, (34, 33, 26))


def draw_tree(d: Draw, x: float, z: float, h: float, r: float, tone: float, night: bool) -> None:
    trunk, width = (20, 16, 12) if night else (92, 70, 48), max(1, round(0.35 * FOCAL / z))
    d.line([proj(x, 0, z), proj(x, h - r, z)], fill=trunk, width=width)
    (cx, cy), rr = proj(x, h - r, z), r * FOCAL / z
    leaf = tint((58, 96, 48), tone * (0.22 if night else 1.0))
    d.ellipse((cx - rr, cy - rr * 1.15, cx + rr, cy + rr * 0.9), fill=leaf)
    if not night:
        d.ellipse((cx - rr * 0.7, cy - rr, cx + rr * 0.25, cy), fill=tint(leaf, 1.2, 8))


def draw_lamp(d: Draw, g: Draw, x: float, z: float, night: bool) -> None:
    arm = x - math.copysign(1.8, x)
    pole, width = (60, 62, 66) if night else (150, 152, 156), max(1, round(0.25 * FOCAL / z))
    d.line([proj(x, 0, z), proj(x, 10, z), proj(arm, 10, z)], fill=pole, width=width)
    (hx, hy), r = proj(arm, 9.9, z), 0.5 * FOCAL / z
    d.ellipse((hx - r, hy - r / 2, hx + r, hy + r / 2), fill=(255, 236, 190) if night else pole)
    if night:
        g.ellipse((hx - 2 * r, hy - 1.5 * r, hx + 2 * r, hy + 1.5 * r), fill=(130, 104, 60))
        ground(g, arm - 4, arm + 4, z - 5, z + 5, (34, 28, 18))


def draw_gantry(d: Draw, z: float, night: bool) -> None:
    steel, dim = ((70, 72, 78), 0.45) if night else ((168, 170, 176), 1.0)
    for x0 in (-13.2, 12.8):
        box(d, (x0, x0 + 0.4), (0, 7.4), (z, z + 0.4), steel, tint(steel, 0.8), steel)
    box(d, (-13.2, 13.2), (6.6, 7.4), (z, z + 0.4), steel, tint(steel, 0.8), steel)
    box(d, (-7.5, -2.5), (4.6, 6.6), (z + 0.4, z + 0.5), steel, steel, steel)  # back of a sign
    sign = box(d, (2.2, 7.4), (4.6, 6.6), (z - 0.1, z), tint((22, 112, 64), dim), steel, steel)
    white = tint((240, 240, 240), dim)
    d.rectangle(sign, outline=white, width=2)
    for fy in (0.2, 0.45):  # unreadable bars stand in for destinations
        d.rectangle(part(sign, 0.12, fy, 0.62, fy + 0.12), fill=white)
    ax, ay, bx, by = part(sign, 0.72, 0.2, 0.9, 0.8)
    d.polygon([(ax, ay), (bx, ay), ((ax + bx) / 2, by)], fill=white)  # lane arrow


def overlay(img: Image.Image, title: str, stamp: str) -> Image.Image:
    """White text on dark semi-opaque boxes, title top-left and stamp bottom-right."""
    font = ImageFont.load_default(size=22)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    for text, top_left in ((title, True), (stamp, False)):
        left, top, right, bottom = d.textbbox((0, 0), text, font=font)
        w, h = right - left, bottom - top
        x, y = (14, 12) if top_left else (img.width - 14 - w, img.height - 12 - h)
        d.rectangle((x - 8, y - 7, x + w + 8, y + h + 7), fill=(0, 0, 0, 150))
        d.text((x - left, y - top), text, font=font, fill=(255, 255, 255, 255))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def draw_road(
    rng: random.Random, target: int, night: bool, gantry: bool
) -> tuple[Image.Image, int]:
    """A frame without overlays, and its traffic level."""
    img, glow = Image.new("RGB", (CW, CH)), Image.new("RGB", (CW, CH))  # glow: lights, blurred
    d, g = ImageDraw.Draw(img), ImageDraw.Draw(glow)
    top, low = ((6, 8, 22), (30, 34, 56)) if night else ((88, 140, 204), (208, 222, 236))
    img.paste(ImageOps.colorize(Image.linear_gradient("L").resize((CW, 240)), top, low))
    p1, p2 = rng.uniform(0, 6), rng.uniform(0, 6)
    hills = [
        (x, HORIZON - 16 - 12 * math.sin(x / 97 + p1) - 8 * math.sin(x / 41 + p2))
        for x in range(0, CW + 40, 40)
    ]
    d.polygon(
        [(0, HORIZON + 1), *hills, (CW, HORIZON + 1)], (16, 18, 28) if night else (132, 150, 156)
    )
    for _ in range(16):
        bx, bw, bh = rng.uniform(740, 1200), rng.uniform(18, 56), rng.uniform(12, 74)
        shade = tint((150, 150, 158), rng.uniform(0.85, 1.1) * (0.16 if night else 1.0))
        d.rectangle((bx, HORIZON - bh, bx + bw, HORIZON + 1), fill=shade)
        for _ in range(int(bw * bh / 60) if night else 0):  # lit windows
            wx, wy = rng.uniform(bx + 2, bx + bw - 5), rng.uniform(HORIZON - bh + 3, HORIZON - 4)
            d.rectangle((wx, wy, wx + 3, wy + 3), fill=(236, 204, 120))
    d.rectangle((0, HORIZON, CW, CH), fill=(22, 28, 22) if night else (112, 134, 82))
    ground(d, -13.2, 13.2, 3, 5000, (30, 30, 34) if night else (104, 104, 108))
    ground(d, -1.2, 1.2, 3, 5000, (40, 40, 42) if night else (136, 134, 128))
    ground(d, -0.35, 0.35, 3, 5000, (64, 64, 62) if night else (190, 188, 182))  # barrier top
    line = (130, 130, 120) if night else (226, 226, 220)
    for x in (-11.7, -1.5, 1.5, 11.7):
        ground(d, x - 0.09, x + 0.09, 3, 5000, line)
    for x in (-8.2, -4.7, 4.7, 8.2):
        for z in range(4, 400, 12):
            ground(d, x - 0.08, x + 0.08, z, z + 4, line)
    vehicles, level = place_vehicles(rng, target)
    items = [(v.z, partial(draw_vehicle, d, g, v, night)) for v in vehicles]
    for side in (-1, 1):
        z = 16 + rng.uniform(0, 8)
        while z < 260:
            x, h, r = side * rng.uniform(15.5, 30), rng.uniform(6, 10), rng.uniform(1.8, 3.2)
            items.append((z, partial(draw_tree, d, x, z, h, r, rng.uniform(0.8, 1.2), night)))
            z += rng.uniform(6, 18)
        items += [(z, partial(draw_lamp, d, g, side * 13.6, z, night)) for z in range(22, 300, 40)]
    if gantry:
        items.append((52.0, partial(draw_gantry, d, 52.0, night)))
    for _, draw in sorted(items, key=lambda item: -item[0]):  # far to near
        draw()
    if night:
        img = ImageChops.screen(img, glow.filter(ImageFilter.GaussianBlur(10)))
        img = ImageChops.screen(img, glow.filter(ImageFilter.GaussianBlur(2)))
    return img.resize((W, H), Image.Resampling.LANCZOS), level


# Products are drawn on a 1024 px canvas and saved at 512 px. Round things are small meshes seen
# from 22 degrees above and lit from the upper left; flat things are shapes filled with ramps.
TILT = math.radians(22)
Vec = tuple[float, float, float]
VIEW: Vec = (0.0, -math.cos(TILT), math.sin(TILT))
LIGHT: Vec = (-0.5, -0.55, 0.67)
Surface = tuple[RGB, str]  # colour and finish: "matte", "shiny" or "glow"
Quad = tuple[list[Vec], Surface]
Shape = Callable[[Draw], None]


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def unit(a: Vec) -> Vec:
    n = math.sqrt(dot(a, a)) or 1.0
    return (a[0] / n, a[1] / n, a[2] / n)


def screen(p: Vec, cx: float, cy: float) -> tuple[float, float]:
    return (cx + p[0], cy - p[2] * math.cos(TILT) - p[1] * math.sin(TILT))


def lathe(
    profile: Sequence[Span], rx: float, ry: float, surface: Callable[[Vec], Surface]
) -> list[Quad]:
    """Quads of a surface of revolution; `profile` is (radius, height) from bottom to top."""
    quads, steps = [], 96
    for (r0, h0), (r1, h1) in pairwise(profile):
        for k in range(steps):
            a0, a1 = 2 * math.pi * k / steps, 2 * math.pi * (k + 1) / steps
            corners = ((r0, h0, a0), (r0, h0, a1), (r1, h1, a1), (r1, h1, a0))
            pts = [(rx * r * math.cos(a), ry * r * math.sin(a), h) for r, h, a in corners]
            mid = (sum(p[0] for p in pts) / 4, sum(p[1] for p in pts) / 4, (h0 + h1) / 2)
            quads.append((pts, surface(mid)))
    return quads


def render(img: Image.Image, quads: list[Quad], cx: float, cy: float) -> None:
    """Painter's algorithm with back-face culling, Lambert shading and a Blinn highlight."""
    half = unit((LIGHT[0] + VIEW[0], LIGHT[1] + VIEW[1], LIGHT[2] + VIEW[2]))
    faces = []
    for pts, (colour, finish) in quads:
        (x1, y1, z1), (x2, y2, z2) = (
            [b - a for a, b in zip(pts[i], pts[i + 2], strict=True)] for i in (0, 1)
        )
        n = unit((y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2))  # diagonals' cross
        if dot(n, VIEW) <= 0:
            continue
        lit = max(0.0, dot(n, unit(LIGHT)))
        k, spec = 0.42 + 0.7 * lit, 0
        if finish == "glow":  # emissive: brightest where it faces the viewer
            k, spec = 0.78 + 0.1 * lit, round(70 * dot(n, VIEW) ** 2)
        elif finish == "shiny":
            spec = round(200 * max(0.0, dot(n, half)) ** 40)
        depth = sum(-dot(p, VIEW) for p in pts)
        faces.append((depth, [screen(p, cx, cy) for p in pts], tint(colour, k, spec)))
    d = ImageDraw.Draw(img)
    for _, poly, fill in sorted(faces, key=lambda f: -f[0]):
        d.polygon(poly, fill=fill, outline=fill)


def ramp(size: tuple[int, int], profile: Sequence[int], across: bool = True) -> Image.Image:
    """A greyscale image whose value follows `profile` from left to right (or top to bottom)."""
    strip = Image.new("L", (len(profile), 1) if across else (1, len(profile)))
    strip.putdata(list(profile))
    return strip.resize(size, Image.Resampling.BILINEAR)


def paint(
    img: Image.Image,
    shape: Shape,
    colours: tuple[RGB, RGB],
    profile: Sequence[int] = (70, 190, 255, 210, 90),
    across: bool = True,
) -> None:
    """Fill whatever `shape` draws with `colours` (dark, light) ramped along `profile`."""
    mask = Image.new("L", img.size)
    shape(ImageDraw.Draw(mask))
    if bbox := mask.getbbox():
        shade = ramp((bbox[2] - bbox[0], bbox[3] - bbox[1]), profile, across)
        img.paste(ImageOps.colorize(shade, *colours), bbox[:2], mask.crop(bbox))


def rrect(box: tuple[int, int, int, int], radius: int) -> Shape:
    return lambda m: m.rounded_rectangle(box, radius=radius, fill=255)


def shadow(img: Image.Image, bbox: Sequence[float], strength: int = 70) -> None:
    mask = Image.new("L", img.size)
    ImageDraw.Draw(mask).ellipse(bbox, fill=strength)
    img.paste((0, 0, 0), (0, 0), mask.filter(ImageFilter.GaussianBlur(24)))


def draw_tent(img: Image.Image) -> None:
    a, b, c, cx, cy = 330.0, 250.0, 330.0, 512.0, 640.0  # a half-ellipsoid dome

    def front(x: float, z: float) -> tuple[float, float]:
        return screen((x, -b * math.sqrt(max(0.0, 1 - (x / a) ** 2 - (z / c) ** 2)), z), cx, cy)

    def fabric(colour: RGB) -> Callable[[Vec], Surface]:
        return lambda p: ((58, 60, 62) if p[2] < 0.07 * c else colour, "matte")  # bathtub floor

    shadow(img, (cx - a * 1.25, cy - 120, cx + a * 1.25, cy + 150))
    dome = [(math.cos(t), c * math.sin(t)) for t in (i * math.pi / 48 for i in range(25))]
    render(img, lathe(dome, a, b, fabric((70, 160, 78))), cx, cy)
    door = img.copy()  # the D-shaped door: the same dome in a darker fabric, cut out smoothly
    render(door, lathe(dome, a, b, fabric((34, 90, 50))), cx, cy)
    arch = [
        front(0.46 * a * math.cos(s), c * (0.07 + 0.66 * math.sin(s)))
        for s in (i * math.pi / 60 for i in range(61))
    ]
    mask = Image.new("L", img.size)
    ImageDraw.Draw(mask).polygon(arch, fill=255)
    img.paste(door, (0, 0), mask)
    d = ImageDraw.Draw(img)
    d.line(arch, fill=(24, 40, 28), width=6)  # zip
    zx, zy = front(-0.3 * a, 0.55 * c)
    d.rounded_rectangle((zx - 6, zy - 4, zx + 6, zy + 26), radius=4, fill=(20, 20, 20))
    for phi in (math.pi / 4, 3 * math.pi / 4):  # two poles crossing over the top
        ts = (i * math.pi / 80 for i in range(81))
        arc = [
            (a * math.cos(t) * math.cos(phi), b * math.cos(t) * math.sin(phi), c * math.sin(t))
            for t in ts
        ]
        seen = [p for p in arc if dot(unit((p[0] / a**2, p[1] / b**2, p[2] / c**2)), VIEW) > -0.05]
        d.line([screen(p, cx, cy) for p in seen], fill=(44, 46, 50), width=9, joint="curve")
        foot = seen[-1] if seen[-1][1] < seen[0][1] else seen[0]
        peg = screen((foot[0] * 1.45, foot[1] * 1.45, 0.0), cx, cy)
        d.line([screen((foot[0] * 0.8, foot[1] * 0.8, 0.45 * c), cx, cy), peg], (120, 120, 120), 3)
        d.line([(peg[0], peg[1] - 14), (peg[0], peg[1] + 6)], fill=(80, 80, 84), width=6)


def draw_lantern(img: Image.Image) -> None:
    cx, cy = 512.0, 840.0

    def surface(p: Vec) -> Surface:
        if 92 < p[2] < 410:  # the globe, behind six bars
            bar = abs((math.degrees(math.atan2(p[1], p[0])) + 360) % 60 - 30) > 27
            return ((46, 50, 48), "shiny") if bar else ((255, 222, 150), "glow")
        return ((196, 200, 204), "shiny") if 410 < p[2] < 430 else ((38, 84, 58), "shiny")

    outline = (  # (radius, height) from the base up: base, globe, cap
        "0,0 150,0 156,14 156,78 142,92 126,94 132,150 136,250 132,350 124,410 154,412 160,430 "
        "150,470 100,520 58,540 0,546"
    )
    body = [(float(r), float(h)) for r, h in (p.split(",") for p in outline.split())]
    shadow(img, (cx - 230, cy - 90, cx + 230, cy + 110))
    render(img, lathe(body, 1.0, 1.0, surface), cx, cy)
    d = ImageDraw.Draw(img)
    bail = [
        screen((150 * math.cos(s), 0.0, 470 + 190 * math.sin(s)), cx, cy)
        for s in (i * math.pi / 40 for i in range(41))
    ]
    d.line(bail, fill=(120, 122, 128), width=11, joint="curve")
    d.line(bail[14:27], fill=(30, 30, 30), width=19, joint="curve")  # grip
    x0, y0 = screen((-34, -156, 58), cx, cy)
    d.rounded_rectangle((x0, y0 - 12, x0 + 68, y0 + 18), radius=10, fill=(24, 26, 26))  # switch


def draw_sleeping_bag(img: Image.Image) -> None:
    layer = Image.new("RGBA", (1024, 1024), (0, 0, 0, 0))  # drawn upright, then turned
    knots = ((0, 236), (0.14, 246), (0.28, 252), (0.55, 212), (0.8, 158), (1, 128))

    def half_width(t: float) -> float:  # t runs from the hood (0) to the feet (1)
        (t0, w0), (t1, w1) = next((k, m) for k, m in pairwise(knots) if t <= m[0])
        cap = 1 - max(0.0, 1 - t / 0.16) ** 2 - max(0.0, (t - 0.95) / 0.05) ** 2
        return (w0 + (w1 - w0) * (t - t0) / (t1 - t0)) * math.sqrt(max(0.0, cap))

    ts = [i / 200 for i in range(201)]
    outline = [(512 + half_width(t), 90 + 830 * t) for t in ts]
    outline += [(512 - half_width(t), 90 + 830 * t) for t in reversed(ts)]
    mask = Image.new("L", layer.size)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    column = ramp((1, 1024), (200, 255, 240), across=False)
    for y in range(384, 1024, 64):  # quilted baffles below the hood
        column.paste(ramp((1, 64), (110, 215, 255, 245, 205, 140), across=False), (0, y))
    across = ramp((1024, 1024), (80, 170, 225, 255, 225, 170, 80))
    puff = ImageChops.multiply(across, column.resize((1024, 1024)))
    layer.paste(ImageOps.colorize(puff, (70, 8, 10), (236, 76, 58)), (0, 0), mask)
    d = ImageDraw.Draw(layer)
    d.arc((292, 232, 732, 384), 15, 165, fill=(110, 16, 14), width=6)  # hood seam
    for a in (2 * math.pi * k / 28 for k in range(28)):  # fabric gathered by the drawstring
        co, si = math.cos(a), math.sin(a)
        d.line(
            [(512 + 140 * co, 262 + 92 * si), (512 + 176 * co, 262 + 116 * si)], (150, 26, 22), 4
        )
    d.ellipse((372, 170, 652, 354), fill=(74, 76, 82))  # grey lining inside the hood
    throat = ((12, 12, 14), (60, 62, 68))  # the inside of the bag darkens into the depth
    paint(layer, lambda m: m.ellipse((400, 214, 624, 350), fill=255), throat, (255, 120, 20), False)
    d.ellipse((372, 170, 652, 354), outline=(120, 18, 16), width=14)  # drawstring channel
    d.line([(596, 344), (618, 412)], fill=(28, 28, 28), width=5)
    d.rounded_rectangle((604, 406, 634, 442), radius=8, fill=(22, 22, 22))  # cord lock
    zipper = [(512 + 0.66 * half_width(t), 90 + 830 * t) for t in ts if 0.34 <= t <= 0.8]
    d.line(zipper, fill=(44, 44, 48), width=8, joint="curve")
    zx, zy = zipper[0]
    d.rounded_rectangle((zx - 9, zy - 4, zx + 9, zy + 40), radius=5, fill=(200, 200, 204))
    d.arc((372, 820, 652, 900), 200, 340, fill=(120, 20, 18), width=6)  # foot-box seam
    layer = layer.rotate(-28, Image.Resampling.BICUBIC, center=(512, 512))
    alpha = layer.getchannel("A").point(lambda v: v * 3 // 10)
    img.paste((0, 0, 0), (14, 26), alpha.filter(ImageFilter.GaussianBlur(18)))
    img.paste(layer, (0, 0), layer)


def draw_backpack(img: Image.Image) -> None:
    blue, navy = ((18, 46, 96), (72, 134, 208)), ((14, 34, 74), (52, 106, 176))
    orange, grey = ((150, 58, 10), (248, 142, 50)), ((30, 32, 36), (100, 104, 110))
    strap, buckle = (36, 38, 42), (12, 12, 14)
    d = ImageDraw.Draw(img)
    shadow(img, (230, 790, 794, 900), strength=90)
    for x0, x1 in ((212, 330), (694, 812)):  # padded hip-belt wings
        paint(img, rrect((x0, 690, x1, 790), 38), grey, (200, 255, 160, 70), across=False)
    for x0, x1 in ((262, 336), (688, 762)):  # mesh bottle pockets
        paint(img, rrect((x0, 500, x1, 806), 28), grey)
        for y in range(512, 796, 16):
            d.line([(x0 + 6, y), (x1 - 6, y + 10)], fill=(18, 18, 20), width=2)

    def base(m: Draw) -> None:
        m.rounded_rectangle((300, 190, 724, 832), radius=110, fill=255)
        m.rectangle((0, 0, 1024, 762), fill=0)

    paint(img, rrect((300, 190, 724, 832), 110), blue)
    paint(img, base, grey)
    paint(img, rrect((372, 468, 652, 792), 70), navy)  # front stretch pocket
    d.line([(400, 506), (624, 506)], fill=(12, 20, 36), width=7)
    paint(img, rrect((284, 140, 740, 332), 92), orange, (255, 230, 170, 90), across=False)  # lid
    d.arc((330, 196, 694, 300), 25, 155, fill=(86, 34, 6), width=7)  # lid zip
    d.arc((470, 96, 554, 176), 180, 360, fill=strap, width=14)  # haul loop
    for x in (410, 588):  # lid straps
        d.rectangle((x, 300, x + 26, 430), fill=strap)
        d.rounded_rectangle((x - 8, 376, x + 34, 404), radius=5, fill=buckle)
    for y in (420, 630):  # compression straps
        d.rectangle((300, y, 380, y + 24), fill=strap)
        d.rectangle((644, y, 724, y + 24), fill=strap)
        for x in (364, 632):
            d.rounded_rectangle((x, y - 5, x + 28, y + 29), radius=5, fill=buckle)
    for zx, zy in ((354, 262), (624, 500)):  # zip pulls
        d.rounded_rectangle((zx, zy, zx + 14, zy + 40), radius=4, fill=(20, 20, 22))
    d.ellipse((488, 788, 536, 840), outline=strap, width=9)  # ice-axe loop


PRODUCTS = {
    "tent.png": draw_tent,
    "lantern.png": draw_lantern,
    "sleeping_bag.png": draw_sleeping_bag,
    "backpack.png": draw_backpack,
}
# Reference texts: "file: name", then one paragraph per language; indented lines continue it.
PRODUCT_TEXTS = """
tent.png: Two-person dome tent
en: A lightweight two-person dome tent with a green waterproof flysheet, two crossing poles
    and a large D-shaped zip door. It pitches in minutes and keeps you dry on weekend trips.
fr: Une tente dôme légère pour deux personnes, avec un double toit vert imperméable, deux
    arceaux croisés et une grande porte en D zippée. Elle se monte en quelques minutes et vous
    garde au sec pendant vos week-ends en plein air.
es: Una tienda iglú ligera para dos personas, con doble techo verde impermeable, dos varillas
    cruzadas y una amplia puerta en forma de D con cremallera. Se monta en pocos minutos y te
    mantiene seco en tus escapadas de fin de semana.

lantern.png: LED camping lantern
en: A rugged LED camping lantern with a dark green body, a warm glowing globe and a folding
    metal handle for hanging. It lights up the whole tent or picnic table with a soft,
    glare-free light.
fr: Une lanterne de camping LED robuste, avec un corps vert foncé, un globe à la lumière chaude
    et une anse métallique rabattable pour la suspendre. Elle éclaire toute la tente ou la table
    de pique-nique d'une lumière douce qui n'éblouit pas.
es: Un farol LED de camping resistente, con cuerpo verde oscuro, un globo de luz cálida y un asa
    metálica plegable para colgarlo. Ilumina toda la tienda o la mesa de pícnic con una luz suave
    que no deslumbra.

sleeping_bag.png: Mummy sleeping bag
en: A warm red mummy sleeping bag with an insulated hood, a drawstring and a long side zip. Its
    quilted baffles keep the filling in place for cosy nights under the stars.
fr: Un sac de couchage momie rouge et chaud, avec une capuche isolante, un cordon de serrage et
    une longue fermeture éclair latérale. Ses compartiments matelassés maintiennent le
    garnissage en place pour des nuits douillettes à la belle étoile.
es: Un saco de dormir tipo momia, rojo y cálido, con capucha aislante, cordón ajustable y una
    larga cremallera lateral. Sus compartimentos acolchados mantienen el relleno en su sitio
    para pasar noches confortables bajo las estrellas.

backpack.png: Hiking backpack
en: A sturdy blue hiking backpack with an orange top lid, a front stretch pocket, mesh side
    pockets for bottles and adjustable compression straps. The padded hip belt carries the load
    comfortably on long day hikes.
fr: Un sac à dos de randonnée bleu et robuste, avec un rabat supérieur orange, une poche
    frontale extensible, des poches latérales en filet pour les gourdes et des sangles de
    compression réglables. Sa ceinture rembourrée répartit la charge confortablement lors des
    longues randonnées à la journée.
es: Una mochila de senderismo azul y resistente, con tapa superior naranja, bolsillo frontal
    elástico, bolsillos laterales de malla para botellas y correas de compresión ajustables. Su
    cinturón acolchado reparte el peso con comodidad en las rutas largas de un día.
"""

# What a right description states, per language: what is drawn (shape, colour, parts).
PRODUCT_FACTS = {
    "tent.png": {
        "en": ["two-person", "dome", "green", "waterproof", "poles", "door"],
        "fr": ["deux personnes", "dôme", "vert|verte", "imperméable", "arceaux", "porte"],
        "es": ["dos personas", "iglú|cúpula", "verde", "impermeable", "varillas", "puerta"],
    },
    "lantern.png": {
        "en": ["LED", "lantern", "green", "handle", "light"],
        "fr": ["LED", "lanterne", "vert|verte", "anse|poignée", "lumière"],
        "es": ["LED", "farol|linterna", "verde", "asa", "luz"],
    },
    "sleeping_bag.png": {
        "en": ["mummy", "sleeping bag", "red", "hood", "zip|zipper"],
        "fr": ["momie", "sac de couchage", "rouge", "capuche", "fermeture éclair|zip"],
        "es": ["momia", "saco de dormir", "rojo|roja", "capucha", "cremallera"],
    },
    "backpack.png": {
        "en": ["backpack", "blue", "orange", "pocket|pockets", "hip belt"],
        "fr": ["sac à dos", "bleu|bleue", "orange", "poche|poches", "ceinture"],
        "es": ["mochila", "azul", "naranja", "bolsillo|bolsillos", "cinturón"],
    },
}


def write(
    folder: Path, images: dict[str, Image.Image], labels: dict[str, dict[str, object]]
) -> None:
    """Save the images and `labels.json` into a fresh `folder`, printing what was written."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name, img in images.items():
        path = folder / name
        options = {"quality": 85} if path.suffix == ".jpg" else {"optimize": True}
        img.save(path, **options)
        shown = labels[name].get("name") or labels[name]
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size:>7,} B  {shown}")
    text = json.dumps(labels, indent=2, ensure_ascii=False) + "\n"
    (folder / "labels.json").write_text(text, encoding="utf-8")
    print(f"{(folder / 'labels.json').relative_to(HERE.parent)}  {len(labels)} labels")


def main() -> None:
    frames: dict[str, Image.Image] = {}
    labels: dict[str, dict[str, object]] = {}
    for i, row in enumerate(FRAMES.strip().splitlines(), start=1):
        title, when, date_format, target, scene = (cell.strip() for cell in row.split("|"))
        stamp, name = datetime.fromisoformat(when), f"cctv_{i:02}.jpg"
        rng = random.Random(f"{SEED}:{name}")  # one stream per frame: edits stay local
        road, level = draw_road(rng, int(target), "night" in scene, "gantry" in scene)
        frames[name] = overlay(road, title, stamp.strftime(f"{date_format} %H:%M:%S"))
        labels[name] = {"title": title, "datetime": stamp.isoformat(), "traffic_level": level}
    write(HERE / "cctv", frames, labels)
    products: dict[str, Image.Image] = {}
    for name, draw in PRODUCTS.items():
        canvas = Image.new("RGB", (1024, 1024), (255, 255, 255))
        draw(canvas)
        products[name] = canvas.resize((512, 512), Image.Resampling.LANCZOS)
    texts: dict[str, dict[str, object]] = {}
    for block in PRODUCT_TEXTS.strip().split("\n\n"):
        head, *langs = block.replace("\n    ", " ").splitlines()
        name, title = head.split(": ", 1)
        texts[name] = {
            "name": title,
            "description": dict(ln.split(": ", 1) for ln in langs),
            "facts": PRODUCT_FACTS[name],
        }
    write(HERE / "products", products, texts)


if __name__ == "__main__":
    main()
