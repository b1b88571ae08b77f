"""``python -m aasist_lightning.bench``: see :mod:`aasist_lightning.bench.cli`."""

import sys

from aasist_lightning.bench.cli import main

sys.exit(main())
