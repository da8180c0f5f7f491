"""``python -m callbacks.cli``: the ``callbacks`` command without its console script."""

import sys

from callbacks.cli import main

sys.exit(main())
