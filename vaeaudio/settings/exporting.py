"""Settings of `export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from vaeaudio.settings.base import Flag, Settings


class ExportSettings(Settings):
    """`vaeaudio export`: a finished run as a folder of ONNX graphs and one JSON file, usable without TensorFlow."""

    run: Annotated[Path | None, Flag("RUN", argument=True)] = Field(
        None, description="Run directory to export (default: runs/latest).")
    out: Path | None = Field(None, description="Folder to write (default: RUN/export); an earlier export there is "
                                               "replaced, never another folder.")
    format: Literal["onnx"] = Field("onnx", description="File format of the graphs (ONNX, opset 17).")
