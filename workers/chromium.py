"""How the worker starts its Chromium: the command line and the process, with the DevTools pipe.

The flags are Playwright's defaults for a persistent headless context (what this worker ran
with before it drove Chromium itself, workers/cdp.py) minus the ones for other platforms, plus
the memory flags measured in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
from pathlib import Path

from wamc.wire.launch import BrowserProxy
from workers.cdp import Connection, child_pipes

# WhatsApp Web refuses user agents containing "HeadlessChrome".
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.0.0 Safari/537.36"
)
VIEWPORT = (1280, 800)
# Memory (issue 13; measured by bench/memory.py, figures in docs/benchmarks.md). Each is a mode
# Chromium ships and supports, and none changes what WhatsApp Web can do:
MEMORY_ARGS = [
    # The network service in the browser process instead of its own (≈ 9 MB private per
    # client): Chromium's own choice on low-memory Android. WhatsApp Web sees the same network
    # stack; a crash in it now ends the browser, which the worker restarts like any crash.
    # Chromium honours only the LAST --enable-features: this is the only one.
    "--enable-features=NetworkServiceInProcess2",
    # Without SwiftShader the GPU process only composites (≈ 10 MB private less). The page
    # loses WebGL, as on a machine whose GPU Chrome blocklists: WhatsApp Web draws with the
    # DOM, 2D canvas (the QR code) and <img>/<video>, which are unchanged.
    "--disable-software-rasterizer",
    # The renderer's V8 in its memory-saving mode (as on low-memory devices): the heap grows
    # less and is collected sooner. The heavy page's renderer idles at ≈ 125 MB private instead
    # of ≈ 365 MB; the same JavaScript runs, the cost is GC time (see the load times in
    # docs/benchmarks.md). No heap limit is set: a large account is never cut short.
    "--js-flags=--optimize-for-size",
    # The GPU process's work (software compositing: --disable-gpu) on a thread of the browser
    # process. Alone it saves ≈ 1 MB (the memory moves); with --no-zygote below ≈ 10 MB private
    # per client: two fewer processes with their own start-up state. A compositor crash now
    # ends the browser, which the worker restarts like any crash; the page sees no difference.
    "--in-process-gpu",
]
# Without the sandbox (root only) the zygotes serve nothing: Chromium starts its one renderer
# directly. With the sandbox (the default, an unprivileged user) they are required and stay.
NO_SANDBOX_ARGS = ["--no-sandbox", "--no-zygote"]
# Features Playwright turns off that matter here: no profile deletion at close, no HTTPS
# upgrade of a plain-http WhatsApp URL, no calls home (hints, network time, search preconnect).
DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,"
    "ThirdPartyStoragePartitioning,AvoidCorsURLLoaderRestartOnRedirect,OptimizationHints,"
    "NetworkTimeServiceQuerying,AimEnabled,PreconnectToSearch,Translate"
)
CHROMIUM_ARGS = [
    "--disable-field-trial-config",
    "--disable-background-networking",
    # A headless tab is always "in the background": WhatsApp Web's timers (keep-alive,
    # presence) must run at full rate anyway.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-component-extensions-with-background-pages",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    f"--disable-features={DISABLED_FEATURES}",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--disable-search-engine-choice-screen",
    "--force-color-profile=srgb",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-first-run",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    "--headless",
    "--hide-scrollbars",
    "--mute-audio",
    "--log-level=3",  # less of Chromium's logging (the shell still prints a few D-Bus lines)
    *MEMORY_ARGS,
]


def use_sandbox() -> bool:
    """Chromium keeps its sandbox (user namespaces) unless we are root, where it cannot start."""
    return os.geteuid() != 0


@functools.cache
def chrome_major(executable: str | None, timeout: float = 5.0) -> str:
    """Chrome major version for a believable user agent; a recent default if unknown.

    No shell: the path is one argv entry, whatever characters it holds.
    """
    if not executable:
        return "140"
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        out = subprocess.run(
            [executable, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        ).stdout
        for token in out.split():
            if token[:1].isdigit() and "." in token:
                return token.split(".")[0]
    return "140"


def user_agent(executable: str | None) -> str:
    return USER_AGENT.format(major=chrome_major(executable))


def command_line(executable: str, profile_dir: Path, proxy: BrowserProxy | None) -> list[str]:
    """The whole argv. A proxy's server and bypass list only: credentials go over the pipe."""
    width, height = VIEWPORT
    args = [
        executable,
        *CHROMIUM_ARGS,
        f"--user-agent={user_agent(executable)}",
        f"--window-size={width},{height}",
    ]
    if not use_sandbox():
        args += NO_SANDBOX_ARGS
    if proxy is not None:
        args += [f"--proxy-server={proxy.server}", f"--proxy-bypass-list={proxy.bypass}"]
    return [*args, f"--user-data-dir={profile_dir}", "--remote-debugging-pipe", "about:blank"]


async def launch(argv: list[str]) -> tuple[asyncio.subprocess.Process, Connection]:
    """Start Chromium in its own session (a signal to the worker's group never reaches it: it
    closes when the worker asks, or when the pipe ends) and connect to it."""
    ours, theirs, place = child_pipes()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            preexec_fn=place,
            pass_fds=(3, 4),
            start_new_session=True,
        )
    except BaseException:
        for fd in (*ours, *theirs):
            os.close(fd)
        raise
    for fd in theirs:
        os.close(fd)
    return proc, Connection(*ours)
