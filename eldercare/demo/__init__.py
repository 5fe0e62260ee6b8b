"""Deterministic demo data at the city's scale (DESIGN.md "Data at the seed's scale").

`generate` builds the rows without a database; `load` inserts them into the current app's database.
"""

from eldercare.demo.load import DemoDataError, database_is_empty, load_demo

__all__ = ["DemoDataError", "database_is_empty", "load_demo"]
