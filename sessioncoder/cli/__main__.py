"""``python -m sessioncoder.cli``."""

import sys

from sessioncoder.cli import main

sys.exit(main())
