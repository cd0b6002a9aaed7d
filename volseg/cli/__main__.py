"""``python -m volseg.cli``: the ``volseg`` command without its console script."""

from volseg.cli import main

main()
