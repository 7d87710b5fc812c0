"""Which revision of each layout this vaeaudio builds, and the check a run must pass to be rebuilt from its settings.

A run's `config.json` records `model.layout`, the revision of the layout its model was built with (a run made
before revisions were recorded has none: revision 1). Its `model.keras` holds its own architecture, so a run of any
revision still loads, evaluates, synthesises, reports and exports; only what builds the model again from the run's
settings (`train --resume`, `train --init-from`) needs the revision this vaeaudio builds, and refuses another in one
line. Imports nothing heavy: the check comes before TensorFlow.
"""

from __future__ import annotations

from vaeaudio.util.errors import ModelError

#: The revision of each layout built now, by `layout` name; 1 for a layout never changed.
REVISIONS = {"cnn-strided": 2}
#: What each earlier revision was, for the refusal.
EARLIER = {("cnn-strided", 1): "2-D 3x3 convolutions of 16-128 channels over (bins, frames), vaeaudio before "
                               "2026-12-02"}


def layout(settings) -> str:
    """The layout a `TrainSettings` names: 'mlp', 'cnn-strided' or 'cnn-reference'."""
    return settings.kind if settings.kind == "mlp" else f"cnn-{settings.arch}"


def revision(settings) -> int:
    """The revision of `settings`' layout this vaeaudio builds."""
    return REVISIONS.get(layout(settings), 1)


def require_current(model: dict, settings, doing: str) -> None:
    """`ModelError` in one line unless `model` (a run config's `model` record) names the revision of `settings`'
    layout built now; `doing` names what is refused ('resume run NAME')."""
    name, recorded = layout(settings), int(model.get("layout", 1))
    if recorded != revision(settings):
        was = EARLIER.get((name, recorded), f"revision {recorded}")
        raise ModelError(f"cannot {doing}: its {name} model is the layout's revision {recorded} ({was}); this "
                         f"vaeaudio builds revision {revision(settings)}",
                         "its model.keras still evaluates, synthesises, reports and exports; train a new run to "
                         "go on training")
