"""``python -m wamc.cli``: the same commands as ``wamc``."""

from wamc.cli import main

main()
