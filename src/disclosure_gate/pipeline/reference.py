"""Reference data (USPS abbreviations, ZIP codes, nicknames): derived tables, rebuilt when stale.

The tables are built from packaged data by :mod:`.standardize.address` and
:mod:`.standardize.names`. ``REFERENCE_VERSION`` names the rules they were
built with; a home opened for writing rebuilds them when its recorded version
differs (or a table is missing), in one transaction.
"""

from __future__ import annotations

from disclosure_gate.engine import Engine

#: Bump when the packaged reference data or the way it is loaded changes.
REFERENCE_VERSION = "2"
_TABLES = ("ref_street_suffix", "ref_unit_designator", "ref_directional", "ref_state", "ref_zip",
           "ref_zip_city", "ref_city_match", "ref_first_name", "ref_first_keys")


def stale(engine: Engine) -> bool:
    if any(not engine.table_exists(t) for t in _TABLES):
        return True
    have = engine.scalar("SELECT value FROM meta WHERE key = 'reference_version'", label="reference")
    return bool(have != REFERENCE_VERSION)


def ensure(engine: Engine) -> bool:
    """Build or rebuild the reference tables if needed; returns whether it did."""
    if not stale(engine):
        return False
    from disclosure_gate.pipeline.standardize import address, names

    with engine.transaction():
        address.install_reference_tables(engine)
        names.install_name_tables(engine)
        engine.execute("INSERT OR REPLACE INTO meta VALUES ('reference_version', ?)", [REFERENCE_VERSION],
                       label="reference")
    return True
