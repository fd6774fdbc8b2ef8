"""A local fake WhatsApp Web for tests, benchmarks and demos.

``Simulator`` serves a page that behaves like web.whatsapp.com (device identity, login and
history in the profile's IndexedDB) plus ``static/wa-js.js``, a stand-in for the wa-js bundle
with the same ``WPP`` names and shapes. Point a worker at it with ``WAMC_WHATSAPP_URL=sim.url``
and ``WAMC_WAJS_PATH=sim.wajs_path``; drive the phones through the HTTP API under ``/control/``.
"""

from .server import Simulator, run_simulator

__all__ = ["Simulator", "run_simulator"]
