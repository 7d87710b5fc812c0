"""`python -m vaeaudio.cli ARGS` is `vaeaudio ARGS`; `python -m vaeaudio.cli --markdown` writes docs/cli.md."""

import sys

from vaeaudio.cli import main, markdown

if sys.argv[1:] == ["--markdown"]:
    sys.stdout.write(markdown())
    sys.exit(0)
sys.exit(main())
