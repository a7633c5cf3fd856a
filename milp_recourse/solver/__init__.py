"""The exact pipeline: strategy (which engines run, and why the others do not), one engine per file, verification
and infeasibility certificates. (Named `solver`, not `solve`: `milp_recourse.solve` is the public function.)"""
