"""The tables of `vaeaudio report`'s page: the runs side by side (settings, losses, latent space, what a listener hears
and STOI, generation metrics). Cells are HTML; `vaeaudio.listening.page` places the tables."""

from __future__ import annotations

import math
from html import escape

from vaeaudio.formats.runs import LOSSES
from vaeaudio.formats.spectrogram_set import SPLITS

#: How the page names each of the losses (`vaeaudio.formats.runs.LOSSES`).
LOSS_NAMES = {"reconstruction": "reconstruction", "kl": "KL", "total": "total"}
#: A model carries the word of a voice when the recogniser hears its reconstructions at least this share as often as
#: the same clips through the representation alone (issue 22's target; docs/intelligibility.md).
CARRIES_WORD = 0.9


def num(v, fmt: str = ".3f") -> str:
    """A number as the page shows it: `fmt` for floats, thousands separated for ints, a dash for none or NaN."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, int):
        return f"{v:,}"
    return format(v, fmt)


def table(caption: str, header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table (cells already HTML) in a horizontally scrolling box; the first column holds row headers."""
    head = "".join(f'<th scope="col">{h}</th>' for h in header)
    body = "".join("<tr>" + "".join((f'<th scope="row">{c}</th>' if i == 0 else f"<td>{c}</td>")
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return (f'<div class="scroll"><table class="{cls}"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def settings_table(sections: list[dict]) -> str:
    def row(name, f):
        return [name] + [escape(str(f(s))) for s in sections]

    def clips(s):
        c = s["data"]["clips"]
        return " / ".join(num(c.get(k)) for k in SPLITS)

    rows = [row("model", lambda s: s["metrics"].get("model", s["model"].get("name"))),
            row("parameters", lambda s: num(s["model"].get("parameters"))),
            row("latent size", lambda s: s["metrics"].get("latent_dim", s["settings"].get("latent_dim"))),
            row("beta", lambda s: s["settings"].get("beta")),
            row("conditional", lambda s: "yes" if s["settings"].get("conditional") else "no"),
            row("epochs", lambda s: s["metrics"].get("epochs")),
            row("training time (s)", lambda s: num(s["metrics"].get("training_seconds"), ".0f")),
            row("data set", lambda s: s["data"]["root"]),
            row("split by", lambda s: s["data"]["split_by"]),
            row("clips train / val / test", clips),
            row("audio", lambda s: f"{s['audio']['sample_rate']} Hz, {s['audio']['seconds']:.2f} s clips"),
            row("evaluate results", lambda s: s["evaluate"])]
    return table("Settings that matter", ["", *(escape(s["name"]) for s in sections)], rows)


def loss_table(sections: list[dict]) -> str:
    rows = []
    for split in SPLITS:
        for key in LOSSES:
            rows.append([f"{split} {LOSS_NAMES[key]}"]
                        + [num((s["metrics"]["losses"].get(split) or {}).get(key), ".2f") for s in sections])
    return table("Losses (nats per clip: sum over bins, mean over clips; total = reconstruction + beta x KL)",
                  ["", *(escape(s["name"]) for s in sections)], rows, "numbers")


def latent_table(sections: list[dict]) -> str:
    lat = [s["metrics"].get("latent", {}) for s in sections]
    rows = [[f"k-NN digit accuracy (k = {escape(str(lat[0].get('k', '?')))})"]
            + [num(x.get("knn_digit_accuracy")) for x in lat],
            ["chance accuracy"] + [num(x.get("chance_accuracy")) for x in lat],
            ["silhouette by digit (-1..1)"] + [num(x.get("silhouette_digit")) for x in lat],
            ["silhouette by speaker (-1..1)"] + [num(x.get("silhouette_speaker")) for x in lat]]
    return table("Latent space (test clips' latent means)", ["", *(escape(s["name"]) for s in sections)], rows,
                  "numbers")


def _pair(a, b, ratio) -> str:
    """'0.72 / 0.73 (0.98x)', dashes for what is missing."""
    return f"{num(a, '.2f')} / {num(b, '.2f')}" + (f" ({num(ratio, '.2f')}x)" if isinstance(ratio, float) else "")


def _stoi(q: dict | None) -> str:
    """STOI of reconstructions / of the representation alone, with their standard errors over speakers."""
    def one(key):
        s = (q or {}).get(key) or {}
        return num(s.get("mean"), ".3f") + (f" ± {num(s['se'], '.3f')}" if isinstance(s.get("se"), float) else "")

    if not q:
        return "–"
    groups = (q.get("stoi_reconstruction") or {}).get("groups")
    return f"{one('stoi_reconstruction')} / {one('stoi_representation')} ({num(groups)} speakers)"


def _reconstruction(s: dict) -> str:
    """Reconstructions heard / the representation alone, and, where the model loses the word (below `CARRIES_WORD`
    x), a sentence that says so beside the figure (and why, for an unconditional latent of 2)."""
    rec = s["metrics"].get("recogniser") or {}
    r = rec.get("reconstruction_over_representation")
    cell = _pair((rec.get("reconstruction") or {}).get("accuracy"), (rec.get("representation") or {}).get("accuracy"),
                 r)
    if isinstance(r, float) and r < CARRIES_WORD:
        why = ("a latent of 2 cannot carry the word of these voices, and a larger latent alone keeps no more (16 "
               "did not); what keeps more of it is a latent of 16 with the label head (train's default) or the "
               "digit given (train --conditional; docs/intelligibility.md)"
               ) if s["metrics"].get("latent_dim") == 2 and "accuracy" not in (rec.get("generated") or {}) else (
               "the model loses words the representation keeps; voices unlike those it trained on lose most "
               "(docs/intelligibility.md)")
        cell += f'<br><span class="note">below {CARRIES_WORD}x: {why}</span>'
    return cell


def heard_table(sections: list[dict]) -> str:
    """What the independent recogniser hears (metrics.json's `recogniser`) beside STOI (`quality`): generated clips
    against the recordings of the same voices, an unconditional run's spread over the classes, and the test clips
    through the model against the representation alone."""
    def gen(s):
        rec = s["metrics"].get("recogniser") or {}
        return _pair((rec.get("generated") or {}).get("accuracy"), (rec.get("real_train") or {}).get("accuracy"),
                     rec.get("generated_over_real"))

    def spread(s, key):
        return num(((s["metrics"].get("recogniser") or {}).get("generated") or {}).get(key), ".2f")

    rows = [["generated heard as asked / the recordings of the same voices"] + [gen(s) for s in sections],
            ["unconditional draws: entropy of the classes heard / log C (1 = even)"]
            + [spread(s, "entropy_ratio") for s in sections],
            ["unconditional draws heard as some class, over the recordings"]
            + [spread(s, "heard_some_over_real") for s in sections],
            ["test clips heard: through the model / the representation alone"] + [_reconstruction(s) for s in sections],
            ["STOI (0..1): through the model / the representation alone"]
            + [_stoi(s["metrics"].get("quality")) for s in sections]]
    if not any(s["metrics"].get("recogniser") or s["metrics"].get("quality") for s in sections):
        return "<p>Nothing heard: evaluate ran with <code>--no-recogniser</code> and <code>--stoi-clips 0</code>.</p>"
    return table("The independent recogniser (share heard as meant) and STOI against the recordings",
                 ["", *(escape(s["name"]) for s in sections)], rows, "numbers")


def _flatten(d: dict, prefix: str = "") -> dict:
    """Numeric entries of nested dicts as {"a.b": value}; dicts keyed by digits 0-9 are kept whole (per-digit rows)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and all(str(x).isdigit() for x in v):
            out[key] = v
        elif isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
    return out


def generation_tables(sections: list[dict]) -> str:
    """Every numeric entry of metrics.json's `generation` (new keys appear by themselves), then per-digit ones."""
    flat = [_flatten(s["metrics"].get("generation") or {}) for s in sections]
    if not any(flat):
        return ('<p>No generation metrics: evaluate ran with <code>--samples-per-digit 0</code>. '
                "Run <code>vaeaudio report --samples-per-digit 50</code> for them.</p>")
    keys = list(dict.fromkeys(k for f in flat for k in f))
    header = ["", *(escape(s["name"]) for s in sections)]
    scalars = [k for k in keys if not any(isinstance(f.get(k), dict) for f in flat)]
    per_digit = [k for k in keys if k not in scalars]
    html = table("Generated clips as the judge hears them (every figure in metrics.json's generation)", header,
                  [[escape(k.replace("_", " "))] + [num(f.get(k), ".4g") for f in flat] for k in scalars], "numbers")
    if per_digit:
        rows = [[f"{escape(s['name'])}: {escape(k.replace('_', ' '))}"] + [num((f.get(k) or {}).get(str(d)), ".2f")
                                                                          for d in range(10)]
                for s, f in zip(sections, flat) for k in per_digit if f.get(k)]
        html += table("Per digit", ["", *(f"digit {d}" for d in range(10))], rows, "numbers")
    return html


