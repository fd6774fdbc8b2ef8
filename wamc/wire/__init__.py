"""The daemon⇄worker wire: typed frames (``frames``), worker events (``events``) and commands
(``commands``). One module per contract; nothing else builds or parses frames."""
