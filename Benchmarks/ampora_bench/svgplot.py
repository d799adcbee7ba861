"""A two-panel SVG (memory per agent, p99 heartbeat latency, both against agent count) from
steady-run result files. Plain SVG text: no plotting library needed."""
import json
import math
from xml.sax.saxutils import escape

COLORS = {"ampora": "#1f6feb", "echo-floor": "#d4731a"}
W, H = 940, 420
PANEL_W, PANEL_H = 360, 250
MARGIN_L, MARGIN_T = 70, 60


def load_points(paths):
    """[(peer, agents, rss_bytes_per_agent, p99_ms)] from steady results (suite.json files
    contribute their steady runs)."""
    runs = []
    for path in paths:
        with open(path) as f:
            obj = json.load(f)
        runs += obj.get("runs", [obj]) if isinstance(obj, dict) else obj
    pts = []
    for r in runs:
        if r.get("scenario") != "steady" or not r.get("ok"):
            continue
        fig = r.get("figures", {})
        if fig.get("rss_per_agent_bytes") is None or fig.get("p99_us") is None:
            continue
        pts.append((r.get("peer", "?"), r["agents_connected_max"], fig["rss_per_agent_bytes"], fig["p99_us"] / 1000))
    return sorted(pts)


def nice_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while not ticks or ticks[-1] < hi:
        ticks.append(round(v, 10))
        v += step
    return ticks


def log_ticks(lo, hi):
    """1-2-5 ticks covering [lo, hi] for a logarithmic axis."""
    ticks = []
    mag = 10 ** math.floor(math.log10(lo))
    while not ticks or ticks[-1] < hi:
        for m in (1, 2, 5):
            v = m * mag
            if v * 2 > lo and (not ticks or ticks[-1] < hi):
                ticks.append(v)
        mag *= 10
    return ticks


def wide(values):
    """A logarithmic axis reads better once the values span more than 20x."""
    lo = min(values)
    return lo > 0 and max(values) / lo > 20


def fmt(v):
    if v >= 1000000 and v % 1000000 == 0:
        return "%dM" % (v // 1000000)
    if v >= 1000 and v % 1000 == 0:
        return "%dk" % (v // 1000)
    return ("%g" % v)


def panel(out, x0, y0, title, ylabel, series, ymax_floor=1.0, xlabel="agents connected", points=True, linear=False):
    xs = [p[0] for s in series.values() for p in s] or [0, 1]
    ys = [p[1] for s in series.values() for p in s] or [0, 1]
    xlog, ylog = (False, False) if linear else (wide(xs), wide(ys))
    xt = log_ticks(min(xs), max(xs)) if xlog else nice_ticks(0, max(xs))
    yt = log_ticks(min(ys), max(ys)) if ylog else nice_ticks(0, max(max(ys), ymax_floor))
    xmin, xmax, ymin, ymax = xt[0], xt[-1], yt[0], yt[-1]

    def X(v):
        if xlog:
            return x0 + math.log(v / xmin) / math.log(xmax / xmin) * PANEL_W
        return x0 + v / xmax * PANEL_W

    def Y(v):
        if ylog:
            return y0 + PANEL_H - math.log(v / ymin) / math.log(ymax / ymin) * PANEL_H
        return y0 + PANEL_H - v / ymax * PANEL_H

    if xlog or ylog:
        title += " (log axes)" if xlog and ylog else " (log x)" if xlog else " (log y)"

    out.append('<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>' % (x0, y0 - 12, escape(title)))
    for v in yt:
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>' % (X(xt[0]), Y(v), X(xmax), Y(v)))
        out.append('<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%g</text>' % (X(xt[0]) - 6, Y(v) + 4, v))
    for v in xt:
        out.append('<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>' % (X(v), Y(yt[0]) + 16, fmt(v)))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (x0, y0, PANEL_W, PANEL_H))
    out.append('<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%s</text>'
               % (x0 + PANEL_W / 2, y0 + PANEL_H + 34, escape(xlabel)))
    out.append('<text x="%d" y="%.1f" font-size="12" text-anchor="middle" transform="rotate(-90 %d %.1f)">%s</text>'
               % (x0 - 48, y0 + PANEL_H / 2, x0 - 48, y0 + PANEL_H / 2, escape(ylabel)))
    for peer, pts in series.items():
        color = COLORS.get(peer, "#555")
        pts = sorted(pts)
        if len(pts) > 1:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                       % (color, " ".join("%.1f,%.1f" % (X(a), Y(b)) for a, b in pts)))
        for a, b in (pts if points else []):
            out.append('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %d agents, %.3g</title></circle>'
                       % (X(a), Y(b), color, escape(peer), a, b))


def render(points, title, note=""):
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>' % (MARGIN_L, escape(title))]
    mem, lat = {}, {}
    for peer, agents, rss, p99 in points:
        mem.setdefault(peer, []).append((agents, rss))
        lat.setdefault(peer, []).append((agents, p99))
    panel(out, MARGIN_L, MARGIN_T, "server RSS growth per agent", "bytes per agent", mem)
    panel(out, MARGIN_L + PANEL_W + 100, MARGIN_T, "heartbeat reply latency p99", "milliseconds", lat)
    lx = MARGIN_L
    for peer in sorted(set(p[0] for p in points)):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (lx, H - 50, COLORS.get(peer, "#555")))
        out.append('<text x="%d" y="%d" font-size="12">%s</text>' % (lx + 18, H - 40, escape(peer)))
        lx += 140
    if note:
        out.append('<text x="%d" y="%d" font-size="11" fill="#555">%s</text>' % (MARGIN_L, H - 14, escape(note)))
    if not points:
        out.append('<text x="%d" y="%d" font-size="14">no successful steady runs in the input</text>' % (MARGIN_L, H / 2))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def plot_files(paths, out_path, title, note=""):
    svg = render(load_points(paths), title, note)
    with open(out_path, "w") as f:
        f.write(svg)


def render_series(title, rss, p99, note=""):
    """Two panels against time (the soak scenario): server RSS in MB and the heartbeat reply
    p99 of each 1 s interval in ms; `rss` and `p99` are [(seconds, value)]."""
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>' % (MARGIN_L, escape(title))]
    # Time starts at 0: a logarithmic axis would squeeze the end of the run.
    rss = rss or [(1, 1)]
    p99 = p99 or [(1, 1)]
    panel(out, MARGIN_L, MARGIN_T, "server RSS", "MB", {"ampora": rss}, xlabel="seconds", points=False, linear=True)
    panel(out, MARGIN_L + PANEL_W + 100, MARGIN_T, "heartbeat reply p99 per 1 s interval", "milliseconds",
          {"ampora": p99}, xlabel="seconds", points=False, linear=True)
    if note:
        out.append('<text x="%d" y="%d" font-size="11" fill="#555">%s</text>' % (MARGIN_L, H - 14, escape(note)))
    out.append("</svg>")
    return "\n".join(out) + "\n"
