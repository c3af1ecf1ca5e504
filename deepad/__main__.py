"""``python -m deepad``: the command line, for machines where the ``deepad`` script is not
installed (e.g. ``PYTHONPATH=. python3 -m deepad bench ...`` from a checkout)."""

import sys

from deepad.cli import main

sys.exit(main())
