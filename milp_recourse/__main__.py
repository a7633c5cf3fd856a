"""python -m milp_recourse == milp-recourse."""

import sys

from milp_recourse.cli.main import main

sys.exit(main())
