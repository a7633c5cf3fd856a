"""Tables in, tables out: the batch run, its workers and engines (local / Dask / Ray), resume and progress."""
