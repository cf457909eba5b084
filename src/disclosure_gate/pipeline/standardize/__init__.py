"""Set-based standardizers (addresses, names, TINs) that generate DuckDB SQL."""
