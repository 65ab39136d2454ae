"""Embedded scenarios (TOML files); see models.scenario.embedded_names()."""
