"""Audit of batch results, the personalization study and the instance files with expected optima."""
