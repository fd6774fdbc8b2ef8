"""``wamc``: the command line. Clear errors, never tracebacks, for a down daemon or bad input.

Read commands print a table on a terminal and JSON when piped or with ``--json``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from wamc.cli.clients import client_rows, clients
from wamc.cli.doctor import doctor
from wamc.cli.http import Api, settings
from wamc.cli.logs import logs
from wamc.cli.output import json_option, print_json, show
from wamc.cli.simulator import simulator


@click.group()
@click.version_option(package_name="wamc")
def main() -> None:
    """wamc: a self-hosted WhatsApp multi-client gateway.

    Most commands talk to the running daemon, found through WAMC_HOST, WAMC_PORT and WAMC_HOME
    (the key: WAMC_API_KEY or the one under WAMC_HOME). Read commands print a table on a
    terminal and JSON when piped or with --json. Start here: bash scripts/start.sh, or
    bash scripts/start.sh --simulator for a demo without a phone (README.md).
    """


@main.command()
def serve() -> None:
    """Run the daemon: gateway, workers' supervisor and store."""
    from wamc.serve import DaemonError, run

    s = settings()
    try:
        run(s)
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@main.command()
def shutdown() -> None:
    """Stop every worker, then the daemon (a plain SIGTERM leaves workers for the next daemon)."""
    print_json(Api().call("POST", "/api/shutdown"))


@main.command("api-key")
def api_key() -> None:
    """Print the admin API key (generated on first use; readable by root and the service's
    user)."""
    click.echo(Api().key)


@main.command()
@json_option
def status(as_json: bool) -> None:
    """The daemon (version, WhatsApp URL in use) and every client's state."""
    api = Api()
    data = {"system": api.system(), "clients": api.call("GET", "/api/clients")["clients"]}
    show(data, as_json, _status_table)


def _status_table(data: dict[str, Any]) -> str:
    sys_ = data["system"]
    head = (
        f"wamc {sys_['version']} at {sys_['url']} (pid {sys_['pid']}, since {sys_['started_at']})\n"
        f"WhatsApp: {sys_['whatsapp_url']}" + (" (simulator)" if sys_.get("simulator") else "")
    )
    return head + "\n\n" + client_rows(data["clients"])


main.add_command(clients)
main.add_command(simulator)
main.add_command(logs)
main.add_command(doctor)

if __name__ == "__main__":
    sys.exit(main())
