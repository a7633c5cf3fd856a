"""`milp-recourse serve`: the preference-elicitation web page and its JSON API (needs the `serve` extra:
fastapi, uvicorn). Import `milp_recourse.serve.app.create_app`; this package imports nothing heavy."""
