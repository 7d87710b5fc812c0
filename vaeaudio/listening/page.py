"""The HTML of `vaeaudio report`: plain tables, images and `<audio controls>`, readable without JavaScript.

`page(sections)` takes the per-run dicts `vaeaudio.listening.report` gathers and returns
the whole document (its tables from `vaeaudio.listening.tables`). The only script
(report.js) makes the latent map's points play in place; without it each point is a link to its WAV. Every path on the
page is relative, and nothing is fetched from elsewhere.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from vaeaudio.formats.classes import DIGIT_CLASSES
from vaeaudio.listening import tables
from vaeaudio.listening.tables import num, table

#: matplotlib's tab10, the digit colours of evaluate's latent plots.
DIGIT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MAP_SIZE = 480  # SVG user units of the latent map's side


def _names(s: dict) -> list[str]:
    """The class names of a run's section, in label order (the digits for a set made before classes)."""
    return s.get("classes") or list(DIGIT_CLASSES)


def _kind(s: dict) -> str:
    """'digit' for a digit set, else 'class': what the page calls a label."""
    return "digit" if tuple(_names(s)) == DIGIT_CLASSES else "class"


def _heard(h: dict, names=DIGIT_CLASSES) -> str:
    """What the listeners heard in a clip, e.g. 'recogniser: 7, classifier: 7 (p 0.98)' (labels as `names`)."""
    parts = []
    if "recogniser" in h:
        nothing = "no digit" if tuple(names) == DIGIT_CLASSES else "nothing"
        parts.append(f"recogniser: {nothing if h['recogniser'] < 0 else names[h['recogniser']]}")
    if "classifier" in h:
        parts.append(f"classifier: {names[h['classifier'][0]]} (p {h['classifier'][1]:.2f})")
    return ", ".join(parts) or "not judged"


def _url(path: str) -> str:
    """A relative path (POSIX) as the value of an HTML src or href: percent-encoded (a run named `a#b?c%d` is a
    path, not a fragment or a query), then HTML-escaped."""
    return escape(quote(path, safe="/"))


def _audio(src: str, label: str) -> str:
    return (f'<figure class="player"><audio controls preload="metadata" src="{_url(src)}" '
            f'aria-label="{escape(label)}"><a href="{_url(src)}">{escape(label)}</a></audio>'
            f"<figcaption>{escape(label)}</figcaption></figure>")


def _plots(s: dict) -> str:
    names = {"curves": "Loss curves per epoch (train and val, nats per clip)",
             "latent_digit": "Test clips' latent means by digit",
             "latent_speaker": "Test clips' latent means by speaker"}
    figs = [f'<figure class="plot {"wide" if k == "curves" else ""}"><img src="{_url(src)}" '
            f'alt="{escape(names[k])} of {escape(s["name"])}" '
            f'><figcaption>{escape(names[k])}</figcaption></figure>' for k, src in s["plots"].items()]
    return '<div class="plots">' + "".join(figs) + "</div>" if figs else "<p>No plots (evaluate wrote none).</p>"


def _clips(s: dict) -> str:
    if not s["clips"]:
        return "<p>No test clips (<code>--listen 0</code> or an empty test split).</p>"
    kinds = {"original": "original recording", "representation": "representation alone (the ceiling)",
             "model": "through the model"}
    cards, names = [], _names(s)
    for n, c in enumerate(s["clips"]):
        players = "".join(_audio(a["src"], f"{kinds[a['kind']]}: {_heard(a['heard'], names)}") for a in c["audio"])
        cards.append(f'<article class="clip"><h4>Test clip {n}: {_kind(s)} {escape(names[c["digit"]])}, '
                     f'speaker {escape(c["speaker"])}</h4>'
                     f'<div class="players">{players}</div>'
                     f'<img src="{_url(c["png"])}" alt="spectrograms of test clip {n}: input and through the model, '
                     f'time in s, frequency in Hz, level in dB"></article>')
    return "".join(cards)


def _generated(s: dict) -> str:
    g = s["generated"]
    if not g["rows"]:
        return "<p>No generated clips (<code>--samples 0</code>).</p>"
    source = "the run's latent mixture" if g.get("mixture") else "the prior N(0, I)"
    names, kind = _names(s), _kind(s)
    if not g["conditional"]:
        cells = "".join(_audio(c["src"], f"random draw {n + 1}: {_heard(c['heard'], names)}")
                        for n, c in enumerate(c for r in g["rows"] for c in r))
        return (f"<p>Draws from {source}, decoded (sharpening power {g['sharpen']:g}).</p>"
                f'<div class="players">{cells}</div>')
    header = [f"{kind} asked", *(f"sample {i + 1}" for i in range(len(g["rows"][0])))]
    rows = [[escape(names[r[0]["asked"]])]
            + [_audio(c["src"], f"asked {names[c['asked']]}: {_heard(c['heard'], names)}") for c in r]
            for r in g["rows"]]
    return table(f"Generated clips, {kind}s x samples (draws from {source} decoded for each {kind}; sharpening power "
                  f"{g['sharpen']:g})", header, rows, "audio-grid")


def _latent_map(s: dict) -> str:
    m = s["map"]
    if m is None:
        return ""
    pts, grid = m["points"], m["grid"]
    names, kind = _names(s), _kind(s)
    # Each axis spans the grid and the middle 95% of the points; points beyond sit on the frame's edge
    # (an outlier would otherwise squeeze everything into a corner).
    pad = 30
    span = []
    for axis in (0, 1):
        values = sorted(p["z"][axis] for p in pts)
        inner = [values[int(q * (len(values) - 1))] for q in (0.025, 0.975)] if values else []
        ends = inner + [g["z"][axis] for g in grid] or [-1.0, 1.0]
        lo, hi = min(ends), max(ends)
        margin = 0.08 * (hi - lo) or 1.0
        span.append((lo - margin, hi + margin))

    def xy(z):
        (x0, x1), (y0, y1) = span
        x, y = min(max(z[0], x0), x1), min(max(z[1], y0), y1)
        side = MAP_SIZE - 2 * pad
        return pad + (x - x0) / (x1 - x0) * side, MAP_SIZE - pad - (y - y0) / (y1 - y0) * side

    (x0, x1), (y0, y1) = span
    parts = [f'<rect class="frame" x="{pad}" y="{pad}" width="{MAP_SIZE - 2 * pad}" height="{MAP_SIZE - 2 * pad}"/>']
    if x0 < 0 < x1:
        parts.append(f'<line class="axis" x1="{xy([0, y0])[0]:.1f}" y1="{xy([0, y0])[1]:.1f}" '
                     f'x2="{xy([0, y1])[0]:.1f}" y2="{xy([0, y1])[1]:.1f}"/>')
    if y0 < 0 < y1:
        parts.append(f'<line class="axis" x1="{xy([x0, 0])[0]:.1f}" y1="{xy([x0, 0])[1]:.1f}" '
                     f'x2="{xy([x1, 0])[0]:.1f}" y2="{xy([x1, 0])[1]:.1f}"/>')
    parts += [f'<text x="{pad}" y="{MAP_SIZE - 10}">{x0:.2g}</text>',
              f'<text x="{MAP_SIZE / 2}" y="{MAP_SIZE - 10}" text-anchor="middle">z[0]</text>',
              f'<text x="{MAP_SIZE - pad}" y="{MAP_SIZE - 10}" text-anchor="end">{x1:.2g}</text>',
              f'<text x="4" y="{MAP_SIZE - pad}">{y0:.2g}</text>',
              f'<text x="4" y="{MAP_SIZE / 2}">z[1]</text>',
              f'<text x="4" y="{pad - 10}">{y1:.2g}</text>']
    rows = []
    for g in grid:
        x, y = xy(g["z"])
        label = f"decoded z = ({g['z'][0]:+.2f}, {g['z'][1]:+.2f}): {_heard(g['heard'], names)}"
        parts.append(f'<a class="pt grid" href="{_url(g["src"])}" data-label="{escape(label)}" '
                     f'aria-label="{escape(label)}">'
                     f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14"/>'
                     f'<title>{escape(label)}</title></a>')
        rows.append(f'<li><a href="{_url(g["src"])}">{escape(label)}</a></li>')
    for p in pts:
        x, y = xy(p["z"])
        label = (f"test clip, {kind} {names[p['digit']]}, speaker {p['speaker']}, z = ({p['z'][0]:+.2f}, "
                 f"{p['z'][1]:+.2f}): {_heard(p['heard'], names)}")
        parts.append(f'<a class="pt test" href="{_url(p["src"])}" data-label="{escape(label)}" '
                     f'aria-label="{escape(label)}">'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{DIGIT_COLOURS[p["digit"] % 10]}"/>'
                     f"<title>{escape(label)}</title></a>")
        rows.append(f'<li><a href="{_url(p["src"])}">{escape(label)}</a></li>')
    legend = "".join(f'<li><span class="swatch" style="background:{DIGIT_COLOURS[d % 10]}"></span>{escape(name)}</li>'
                     for d, name in enumerate(names))
    what = (f"Circles: {len(pts)} test clips at their latent means, coloured by {kind} (they play the recording). "
            + (f"Grey squares: a {m['grid_n']} x {m['grid_n']} grid of points decoded by the model (they play the "
               "decoding)." if grid
               else f"No decoded grid (conditional runs decode per {kind}: see the generated clips)."))
    return (f'<section class="latent-map" aria-labelledby="map-{escape(s["name"])}">'
            f'<h3 id="map-{escape(s["name"])}">Playable latent map</h3><p>{what} Click a point, or Tab to it and '
            f'press Enter, to hear it.</p><div class="map-box"><svg viewBox="0 0 {MAP_SIZE} {MAP_SIZE}" role="group" '
            f'aria-label="latent map of {escape(s["name"])}">{"".join(parts)}</svg><div class="map-side">'
            f'<ul class="legend" aria-label="{kind} colours">{legend}</ul><audio class="map-player" controls '
            f'preload="none"></audio><p class="now" aria-live="polite">Nothing playing yet.</p></div></div>'
            f"<details><summary>Every point of the map as a link</summary><ul>{''.join(rows)}</ul></details></section>")


KEY = ("<strong>Original</strong>: the recording. <strong>Representation alone</strong>: the recording turned "
       "into a spectrogram and back into sound without the model (the best any model can do). <strong>Model</strong>: "
       "through the VAE. <strong>Recogniser</strong>: an independent speech recogniser that never heard this corpus "
       "(what a listener would understand).")
#: Added to `KEY` when a classifier labels the clips.
KEY_CLASSIFIER = (" <strong>Classifier</strong>: a digit classifier trained on this set (the judge: is the digit in "
                  "the spectrogram?).")


def _expect(s: dict) -> str:
    """One sentence on what the run is and what to expect from it."""
    m, rec = s["metrics"], s["metrics"].get("recogniser") or {}
    clips = s["data"]["clips"].get("train")
    parts = [f"{escape(str(m.get('model', '')))}, {num(s['model'].get('parameters'))} parameters, "
             f"{m.get('epochs')} epochs on {num(clips)} training clips"]
    gen, real = (rec.get("generated") or {}).get("accuracy"), (rec.get("real_train") or {}).get("accuracy")
    if num(gen) != "–" and num(real) != "–":
        parts.append(f"the recogniser hears the digit asked for in {100 * gen:.0f}% of its generated clips, "
                     f"and in {100 * real:.0f}% of the real recordings of the same voices")
    return "; ".join(parts) + "."


def _listen(s: dict) -> str:
    """The top of a run's part of the page: what it says when asked for each digit, and test clips through it."""
    g = s["generated"]
    asked, names, kind = "", _names(s), _kind(s)
    if g["rows"] and g["conditional"]:
        asked = (f"<h3>Ask for a {kind}</h3>" '<div class="players asked">'
                 + "".join(_audio(r[0]["src"], f"asked for {names[r[0]['asked']]}: {_heard(r[0]['heard'], names)}")
                           for r in g["rows"])
                 + "</div>")
    elif g["rows"]:
        asked = ("<h3>Random draws</h3>" '<div class="players asked">'
                 + "".join(_audio(c["src"], f"draw {n + 1}: {_heard(c['heard'], names)}")
                           for n, c in enumerate(g["rows"][0]))
                 + "</div>")
    rows = []
    for n, c in enumerate(s["clips"]):
        by_kind = {a["kind"]: a for a in c["audio"]}
        cells = [f"{n}: {kind} {escape(names[c['digit']])}, {escape(c['speaker'])}"]
        for how in ("original", "model"):
            a = by_kind.get(how)
            cells.append(_audio(a["src"], f"{how}: {_heard(a['heard'], names)}") if a else
                         "recording missing or changed")
        rows.append(cells)
    clips = table("Test clips: the recording | through the model", ["clip", "original", "model"], rows,
                   "audio-grid") if rows else ""
    return (f'<section class="listen" aria-labelledby="listen-{escape(s["name"])}">'
            f'<h2 id="listen-{escape(s["name"])}">{escape(s["name"])}</h2><p class="expect">{_expect(s)}</p>'
            f"{asked}{clips}</section>")


def _run(s: dict) -> str:
    judge = f"the digit classifier in <code>{escape(s['judge'])}</code>" if s["judge"] else "no classifier (--no-judge)"
    recogniser = "the recogniser" if s.get("recogniser") else "no recogniser (--no-recogniser)"
    return (f'<section class="run" id="run-{escape(s["name"])}"><h2>{escape(s["name"])} in detail</h2>'
            f'<p class="meta"><code>{escape(s["run"])}</code>; evaluate results {escape(s["evaluate"])}; '
            f"listeners: {recogniser}, {judge}.</p>"
            f"<h3>Plots</h3>{_plots(s)}"
            f"<h3>Test clips: original | representation alone | model</h3>{_clips(s)}"
            f"<h3>Generated clips</h3>{_generated(s)}{_latent_map(s)}</section>")


def page(sections: list[dict]) -> str:
    """The whole report page for the runs' sections (in order): sound first, then tables, then each run's detail."""
    names = ", ".join(s["name"] for s in sections)
    nav = "".join(f'<li><a href="#run-{_url(s["name"])}">{escape(s["name"])}</a></li>' for s in sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="vaeaudio report">
<title>vaeaudio report: {escape(names)}</title>
<link rel="stylesheet" href="report.css">
<script src="report.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the results</a>
<header><h1>vaeaudio report: {escape(names)}</h1>
<nav aria-label="runs"><ul><li><a href="#compare">Tables</a></li>{nav}</ul></nav></header>
<main id="main">
<p class="key">{KEY}{KEY_CLASSIFIER if any(s["judge"] for s in sections) else ""}</p>
{"".join(_listen(s) for s in sections)}
<section id="compare"><h2>Runs side by side</h2>
{tables.settings_table(sections)}
{tables.loss_table(sections)}
{tables.latent_table(sections)}
<h3>What a listener hears</h3>
{tables.heard_table(sections)}
<h3>Generation</h3>
{tables.generation_tables(sections)}
</section>
{"".join(_run(s) for s in sections)}
</main>
<footer><p>Written by vaeaudio. Everything on this page is in this folder: copy, zip or serve it as it is.</p></footer>
</body>
</html>
"""
