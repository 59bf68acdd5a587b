"""The results database: schema and migrations, rows, and merging other databases."""
