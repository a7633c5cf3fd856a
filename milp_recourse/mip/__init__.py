"""The solver-neutral model (IR): columns, affine rows, objective; what encoders write and backends read."""
