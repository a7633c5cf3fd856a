"""Encoders: everything that turns a model (SCM, classifier, cost) into IR rows."""
