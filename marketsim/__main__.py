"""``python -m marketsim``: the command line."""

import sys

from marketsim.cli import main

sys.exit(main())
