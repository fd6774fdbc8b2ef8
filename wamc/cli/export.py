"""``wamc clients export``: download a client's conversation export to a file, with a progress bar.

The daemon streams it (``GET /api/clients/{id}/export``); the file is written under a temporary
name and renamed once complete, so a broken transfer never leaves a file that looks whole."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from wamc.cli.http import daemon_url, settings
from wamc.validation import CLIENT_ID_HELP, is_client_id

CHUNK = 64 * 1024
COUNT_HEADER = "X-Wamc-Export-Count"


def _open(client_id: str, query: dict[str, str]) -> http.client.HTTPResponse:
    s = settings()
    url = f"{daemon_url(s)}/api/clients/{client_id}/export"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, headers={"X-Api-Key": s.ensure_api_key()})
    try:
        resp: http.client.HTTPResponse = urllib.request.urlopen(req, timeout=60)
        return resp
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail") or exc.reason
        except (ValueError, AttributeError):
            detail = exc.reason
        raise click.ClickException(f"{exc.code}: {detail}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise click.ClickException(
            f"the wamc daemon does not answer at {url} ({getattr(exc, 'reason', exc)}); "
            "is it running?"
        ) from None


def _chunks(resp: IO[bytes]) -> Iterator[bytes]:
    while chunk := resp.read(CHUNK):
        yield chunk


@click.command()
@click.argument("client_id")
@click.option("--media", is_flag=True, help="a tar with the cached media files")
@click.option("--after", metavar="ISO", help="only messages after this ISO 8601 time")
@click.option("--chat", metavar="ID", help="only this chat")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the file to write (renamed into place once complete)",
)
def export(client_id: str, media: bool, after: str | None, chat: str | None, output: Path) -> None:
    """Export CLIENT_ID's stored messages (JSON Lines, or a tar with --media) to a file."""
    if not is_client_id(client_id):
        raise click.BadParameter(CLIENT_ID_HELP, param_hint="CLIENT_ID")
    query = {k: v for k, v in (("after", after), ("chat", chat)) if v}
    if media:
        query["media"] = "1"
    tmp = output.with_name(f".{output.name}.part")
    messages = written = 0
    with _open(client_id, query) as resp, open(tmp, "wb") as fh:
        total = int(resp.headers.get(COUNT_HEADER) or 0)
        try:
            if media:  # progress in bytes: the tar's size is not known up front
                with click.progressbar(
                    _chunks(resp), label="export", item_show_func=lambda _c: f"{written} bytes"
                ) as bar:
                    for chunk in bar:
                        fh.write(chunk)
                        written += len(chunk)
            else:
                with click.progressbar(length=total, label="export") as bar:
                    for chunk in _chunks(resp):
                        fh.write(chunk)
                        written += len(chunk)
                        n = chunk.count(b"\n")
                        messages += n
                        bar.update(n)
        except (http.client.HTTPException, OSError) as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise click.ClickException(f"the export broke off: {exc!r}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    os.replace(tmp, output)
    what = f"{written} bytes" if media else f"{messages} messages"
    click.echo(f"{what} written to {output}", err=True)
