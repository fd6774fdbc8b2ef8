"""The daemon's SQLite store (``sessions/.wamc/wamc.db``): the only place that holds SQL.

:mod:`wamc.storage.db` owns the connection, the schema and the one transaction helper; each
other module is one table family, with typed async functions that take the :class:`Database`.
Written by the daemon only; profiles belong to the workers.
"""

from wamc.storage.db import Database, Transaction

__all__ = ["Database", "Transaction"]
