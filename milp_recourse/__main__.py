"""python -m milp_recourse == milp-recourse."""

import sys

from .cli import main

sys.exit(main())
