"""The command line against a live daemon and simulator: every command, as an operator runs it.

The CLI runs as a subprocess (``python -m wamc.cli``) with the daemon's WAMC_HOME, port and key;
the simulator lives in the test's event loop, so subprocesses are awaited, never blocked on.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import pty
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

import segno

from tests.support import REPO, Daemon, SimControl, free_port, wait_for
from wamc.simulator import Simulator

PHONE = "5511900000042"
CONTACT = "5511900000077"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def wamc(
    daemon: Daemon, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wamc.cli",
        *args,
        env=env or daemon.env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def ok(daemon: Daemon, *args: str) -> Run:
    run = await wamc(daemon, *args)
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    return run


class Terminal:
    """A CLI process whose stdout is a pseudo-terminal (``pty``); everything it wrote."""

    def __init__(self, daemon: Daemon, *args: str) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wamc.cli", *args],
            env={**daemon.env, "COLUMNS": "200"},
            cwd=REPO,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.text = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # reads cut characters
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.text += decoder.decode(data).replace("\r", "")

    async def exit_code(self, timeout: float = 60) -> int:
        return await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        os.close(self.master)


# --- status, system -------------------------------------------------------------------------
async def test_status_names_the_whatsapp_url_as_json_when_piped_and_a_table_on_a_terminal(
    daemon: Daemon, simulator: Simulator
) -> None:
    await ok(daemon, "clients", "connect", "alpha")
    await daemon.wait_state("alpha", "qr")
    piped = (await ok(daemon, "status")).json()  # piped: JSON without asking
    system = piped["system"]
    assert system["whatsapp_url"] == simulator.url and system["simulator"] is True
    assert system["backend"] == "local" and system["url"] == daemon.base
    assert system["wajs_path"] == str(simulator.wajs_path)
    assert [(c["id"], c["state"]) for c in piped["clients"]] == [("alpha", "qr")]
    assert (await ok(daemon, "status", "--json")).json()["system"] == system
    listed = (await ok(daemon, "clients", "list")).json()
    assert [c["id"] for c in listed["clients"]] == ["alpha"]
    assert (await ok(daemon, "clients", "status", "alpha", "--json")).json()["state"] == "qr"

    term = Terminal(daemon, "status")
    try:
        assert await term.exit_code() == 0, term.text
        await wait_for(lambda: "alpha" in term.text, 10, what="the table")
    finally:
        term.close()
    assert f"WhatsApp: {simulator.url} (simulator)" in term.text
    header = next(line for line in term.text.splitlines() if line.startswith("ID"))
    assert header.split() == [
        "ID",
        "STATE",
        "ME",
        "UPTIME",
        "RESTARTS",
        "MEMORY",
        "CPU",
        "PID",
        "LAST",
        "ERROR",
    ]
    row = next(line for line in term.text.splitlines() if line.startswith("alpha"))
    assert row.split()[1] == "qr"


# --- the simulator session of the README -----------------------------------------------------
async def test_simulator_subcommands_play_the_phone_of_the_daemons_simulator(
    daemon: Daemon,
) -> None:
    await ok(daemon, "clients", "connect", "demo")
    scanned = (await ok(daemon, "simulator", "scan", "demo", "--phone", PHONE)).json()
    assert scanned["phone"] == PHONE
    st = await daemon.status("demo")
    assert st["state"] == "connected" and st["me"] == f"{PHONE}@c.us"

    sent = (
        await ok(daemon, "simulator", "deliver", "demo", "--from", CONTACT, "--text", "hi there")
    ).json()
    msg_id = sent["id"]
    assert msg_id.startswith(f"false_{CONTACT}@c.us_")

    async def stored(want: str) -> dict[str, Any] | None:
        code, body = await daemon.call("GET", "/api/clients/demo/messages/recent")
        return next((m for m in body["messages"] if m["id"] == msg_id and m["type"] == want), None)

    got = await wait_for(lambda: stored("chat"), 30, what="the delivered message")
    assert got["body"] == "hi there" and got["from"] == f"{CONTACT}@c.us"

    reacted = (
        await ok(daemon, "simulator", "react", "demo", "--id", msg_id, "--emoji", "🎉")
    ).json()
    assert reacted == {"id": msg_id, "delivered": "live"}
    reaction = await one_event(daemon, "demo", "message.reaction")
    assert reaction["id"] == msg_id and reaction["reaction"] == "🎉"

    revoked = (await ok(daemon, "simulator", "revoke", "demo", "--id", msg_id)).json()
    assert revoked["id"] == msg_id
    assert (await wait_for(lambda: stored("revoked"), 30, what="the revoke"))["body"] == ""

    out = (await ok(daemon, "simulator", "logout", "demo")).json()
    assert len(out["devices"]) == 1
    await daemon.wait_state("demo", "qr")

    again = await wamc(daemon, "simulator", "deliver", "ghost", "--from", CONTACT, "--text", "x")
    assert again.code == 1 and "404" in again.err and "Traceback" not in again.err
    bad = await wamc(daemon, "simulator", "react", "demo", "--id", "nonsense")
    assert bad.code == 2 and "false_<phone>@c.us_<id>" in bad.err


async def one_event(daemon: Daemon, client: str, name: str) -> dict[str, Any]:
    assert daemon.http is not None
    url = f"{daemon.base}/ws?clients={client}&events={name}&since={client}:0"
    async with daemon.http.ws_connect(url) as ws:
        frame = await asyncio.wait_for(ws.receive_json(), 30)
    assert frame["event"] == name
    return frame["data"]


async def test_simulator_command_still_runs_the_simulator(daemon: Daemon) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wamc.cli", "simulator", "--port", str(port),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)  # type: ignore[union-attr]
        assert line.decode().strip() == f"WhatsApp simulator: http://127.0.0.1:{port}/"
        assert daemon.http is not None
        async with daemon.http.get(f"http://127.0.0.1:{port}/control/health") as r:
            assert (await r.json()) == {"status": "ok"}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


# --- per-client commands ---------------------------------------------------------------------
async def test_restart_logout_and_delete_with_confirmation(
    daemon: Daemon, sim_http: SimControl
) -> None:
    first = await daemon.connect_scanned(sim_http, "shop", PHONE)
    assert (await ok(daemon, "clients", "restart", "shop")).json()["id"] == "shop"
    again = await wait_for(
        lambda: _connected_with_new_pid(daemon, "shop", first["pid"]), 90, what="restarted"
    )
    assert again["me"] == f"{PHONE}@c.us"

    assert (await ok(daemon, "clients", "logout", "shop")).json()["id"] == "shop"
    assert (await daemon.wait_state("shop", "qr"))["me"] is None

    refused = await wamc(daemon, "clients", "delete", "shop", stdin="n\n")
    assert refused.code == 1 and "Delete client shop" in refused.out and "Aborted" in refused.err
    no_answer = await wamc(daemon, "clients", "delete", "shop")  # stdin at its end: no
    assert no_answer.code == 1 and "Aborted" in no_answer.err
    assert (await daemon.status("shop"))["state"] == "qr"
    deleted = (await ok(daemon, "clients", "delete", "shop", "--yes")).json()
    assert deleted == {"id": "shop", "deleted": True}
    code, _ = await daemon.call("GET", "/api/clients/shop/status")
    assert code == 404
    gone = await wamc(daemon, "clients", "delete", "shop", "--yes")
    assert gone.code == 1 and "404" in gone.err


async def _connected_with_new_pid(daemon: Daemon, client: str, old: int) -> dict[str, Any] | None:
    st = await daemon.status(client)
    return st if st["state"] == "connected" and st["pid"] not in (None, old) else None


# --- the QR in a terminal ----------------------------------------------------------------------
CLEAR = "\x1b[H\x1b[2J"
HALF = {"█": (False, False), " ": (True, True), "▀": (False, True), "▄": (True, False)}


def drawn_codes(text: str) -> list[list[list[bool]]]:
    """Every QR the terminal shows, parsed back into modules (True = dark), border removed."""
    codes = []
    for frame in text.split(CLEAR):
        lines = [ln for ln in frame.split("\n") if ln and set(ln) <= set(HALF)]
        if not lines or not lines[-1]:
            continue
        rows: list[list[bool]] = []
        for line in lines:
            rows.append([HALF[c][0] for c in line])
            rows.append([HALF[c][1] for c in line])
        width = len(lines[0])
        if any(len(line) != width for line in lines) or len(rows) < width:
            continue  # a frame still being written
        codes.append([row[4:-4] for row in rows[4 : width - 4]])
    return codes


def segno_modules(payload: str) -> list[list[bool]]:
    return [[bool(m) for m in row] for row in segno.make(payload, error="l", micro=False).matrix]


async def test_qr_is_drawn_in_a_terminal_and_redrawn_on_rotation_until_linked(
    make_daemon: Any, sim_http: SimControl
) -> None:
    async with Simulator(qr_first_ttl=2, qr_ttl=2, max_qr_codes=60) as fast:
        daemon = await make_daemon({"WAMC_QR_MAX_CODES": "60"}, sim=fast)
        control = SimControl(fast, sim_http.http)
        await ok(daemon, "clients", "connect", "scanme")
        await daemon.qr("scanme")
        term = Terminal(daemon, "clients", "qr", "scanme", "--timeout", "120")
        try:
            seen = await _drawn_while_frozen(daemon, control, term)
            await control.post("/control/qr-rotation", {"frozen": False})
            await wait_for(
                lambda: segno_modules(seen) not in drawn_codes(term.text)[-1:],
                60,
                what="a redraw after rotation",
            )
            second = await _drawn_while_frozen(daemon, control, term)
            assert second != seen
            assert len(drawn_codes(term.text)) >= 2
            await control.scan(second, PHONE)
            assert await term.exit_code() == 0, term.text
            await wait_for(lambda: "is linked as" in term.text, 10, what="the last words")
        finally:
            term.close()
    assert f"client scanme is linked as {PHONE}" in term.text
    assert term.text.count(CLEAR) == len(drawn_codes(term.text)) - 1


async def _drawn_while_frozen(daemon: Daemon, control: SimControl, term: Terminal) -> str:
    """Freeze the rotation; the code the API shows, once the terminal shows it too."""
    await control.post("/control/qr-rotation", {"frozen": True})

    async def shown() -> str | None:  # the daemon hears of a new code a moment after the page
        payload = await daemon.qr("scanme")
        codes = drawn_codes(term.text)
        return payload if codes and codes[-1] == segno_modules(payload) else None

    return await wait_for(shown, 30, what="the terminal to draw the API's code")


# --- logs ----------------------------------------------------------------------------------------
def is_run_in(lines: list[str], whole: list[str]) -> bool:
    """``lines`` appear in ``whole`` one after the other (the log may grow meanwhile)."""
    n = len(lines)
    return any(whole[i : i + n] == lines for i in range(len(whole) - n + 1))


async def test_logs_tail_filter_and_json_from_the_files_and_through_the_api(daemon: Daemon) -> None:
    await ok(daemon, "clients", "connect", "logme")
    await daemon.wait_state("logme", "qr")
    log = daemon.home / "logs" / "wamc.log"
    local = (await ok(daemon, "logs", "-n", "5")).out.splitlines()
    remote = (await ok(daemon, "logs", "-n", "5", "--remote")).out.splitlines()
    whole = log.read_text().splitlines()
    assert len(local) == 5 and is_run_in(local, whole)
    assert len(remote) == 5 and is_run_in(remote, whole)

    warned = (await ok(daemon, "logs", "-n", "1000", "--level", "warning")).out.splitlines()
    expected = [
        ln
        for ln in log.read_text().splitlines()
        if ln.split()[2:3] and ln.split()[2] in ("WARNING", "ERROR", "CRITICAL")
    ]
    assert warned == expected[: len(warned)] and len(warned) == len(expected)
    assert all(ln.split()[2] in ("WARNING", "ERROR", "CRITICAL") for ln in warned)

    client_log = (daemon.home / "logs" / "clients" / "logme.log").read_text().splitlines()
    mine = (await ok(daemon, "logs", "--client", "logme", "-n", "3")).out.splitlines()
    assert len(mine) == 3 and is_run_in(mine, client_log)
    via_api = (
        await ok(daemon, "logs", "--client", "logme", "-n", "3", "--remote")
    ).out.splitlines()
    assert is_run_in(via_api, client_log)

    records = [
        json.loads(ln) for ln in (await ok(daemon, "logs", "-n", "3", "--json")).out.splitlines()
    ]
    assert len(records) == 3 and all(
        r["level"] in ("INFO", "WARNING", "DEBUG", "ERROR") for r in records
    )
    assert all(r["line"] in whole or r["line"] in log.read_text() for r in records)
    bad = await wamc(daemon, "logs", "--client", "no.dots")
    assert bad.code == 2 and "client ids are" in bad.err


async def test_logs_follow_new_lines_from_the_file_and_through_the_api(daemon: Daemon) -> None:
    for n, extra in enumerate(([], ["--remote"])):
        term = Terminal(daemon, "logs", "-f", "-n", "0", *extra)
        made: list[str] = []
        try:  # a new client per try: the follower may not have started at the first ones
            await wait_for(
                lambda t=term, m=made, n=n: _connect_and_see(daemon, t, m, f"f{n}x"),
                30,
                interval=1.5,
                what="a new line",
            )
        finally:
            term.close()
        assert "listening on" not in term.text  # -n 0: only new lines


async def _connect_and_see(daemon: Daemon, term: Terminal, made: list[str], prefix: str) -> bool:
    if any(f"[{c}] client created" in term.text for c in made):
        return True
    made.append(f"{prefix}{len(made)}")
    code, _ = await daemon.call("POST", f"/api/clients/{made[-1]}/connect")
    assert code == 202
    return False


# --- doctor --------------------------------------------------------------------------------------
async def test_doctor_reports_each_check_with_its_fix(daemon: Daemon, simulator: Simulator) -> None:
    run = await wamc(daemon, "doctor")  # piped: JSON
    assert "Traceback" not in run.err
    report = run.json()
    checks = {c["check"]: c for c in report["checks"]}
    assert {
        "chromium",
        "wa-js bundle",
        "daemon port",
        "simulator",
        "disk",
        "permissions",
        "supervisord",
    } <= set(checks)
    assert (
        checks["daemon port"]["status"] == "ok" and daemon.base in checks["daemon port"]["detail"]
    )
    assert checks["simulator"]["status"] == "ok" and simulator.url in checks["simulator"]["detail"]
    assert checks["wa-js bundle"]["status"] == "ok" and checks["wa-js bundle"]["detail"] == str(
        simulator.wajs_path
    )
    assert checks["chromium"]["status"] == "ok"
    assert checks["supervisord"]["status"] == "warn"  # this daemon runs without supervisord
    assert run.code == (0 if report["ok"] else 1) and report["ok"] is all(
        c["status"] != "fail" for c in report["checks"]
    )

    (daemon.home / "sessions").chmod(0o755)
    try:
        opened = (await wamc(daemon, "doctor", "--json")).json()
    finally:
        (daemon.home / "sessions").chmod(0o700)
    perm = next(c for c in opened["checks"] if c["check"] == "permissions")
    assert perm["status"] == "fail" and perm["fix"] == f"chmod 700 {daemon.home / 'sessions'}"
    assert opened["ok"] is False

    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**daemon.env, "WAMC_PORT": str(taken.getsockname()[1])}
        busy = await wamc(daemon, "doctor", "--json", env=env)
    port = next(c for c in busy.json()["checks"] if c["check"] == "daemon port")
    assert busy.code == 1 and port["status"] == "fail" and "WAMC_PORT" in port["fix"]
    down = await wamc(daemon, "doctor", "--json", env={**daemon.env, "WAMC_PORT": str(free_port())})
    port = next(c for c in down.json()["checks"] if c["check"] == "daemon port")
    assert port["status"] == "warn" and port["fix"] == "bash scripts/start.sh"

    term = Terminal(daemon, "doctor")
    try:
        await term.exit_code()
        await wait_for(
            lambda: "all good" in term.text or "problems found" in term.text, 10, what="the verdict"
        )
    finally:
        term.close()
    assert term.text.splitlines()[0].split() == ["CHECK", "STATUS", "DETAIL", "FIX"]
