/* Admin dashboard: media in a client's details (issue 11).
 *
 * - A media message in "Recent messages" gets a thumbnail (images and stickers) or a download
 *   button (other files). The file comes from the message's `media_url` (the API's download
 *   endpoint) fetched with the key in X-Api-Key, shown as a blob: URL (the CSP allows `img-src
 *   blob:`; the key never goes in a URL). At most a few fetches run at once; every blob URL is
 *   revoked when its message leaves the list or the dialog closes.
 * - "Send a file": the chosen file goes as multipart/form-data to send-media, to the recipient
 *   of the test message form.
 * common.js calls window.wamcMedia.decorate(li, message) for each message it lists.
 */
(() => {
  "use strict";

  const $ = (sel) => document.querySelector(sel);
  const THUMB_TYPES = new Set(["image", "sticker"]);
  const MAX_PARALLEL = 3;
  const urls = new Map(); // li -> blob URL
  const queue = [];
  let running = 0;
  const stats = { thumbs: 0, failed: 0, sent: 0 }; // read by the browser tests
  let generation = 0; // bumped when the dialog closes: late answers are dropped

  function key() {
    return sessionStorage.getItem("wamc.apiKey");
  }

  function clientId() {
    return $("#detail-dialog").dataset.client;
  }

  async function fetchMedia(url) {
    const res = await fetch(url, { headers: { "X-Api-Key": key() }, cache: "no-store" });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      const err = new Error((body && (body.detail || body.title)) || res.statusText);
      err.code = body && body.code;
      throw err;
    }
    return res.blob();
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length) {
      const job = queue.shift();
      running += 1;
      job().finally(() => {
        running -= 1;
        pump();
      });
    }
  }

  function fmtSize(n) {
    if (n == null) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  }

  function thumbnail(li, m) {
    const box = document.createElement("div");
    box.className = "media-thumb";
    const img = document.createElement("img");
    img.alt = m.media.caption ? `Image: ${m.media.caption}` : `Image from ${m.from || m.chat_id}`;
    img.hidden = true;
    const note = document.createElement("span");
    note.className = "muted small";
    note.textContent = "Loading image…";
    box.append(img, note);
    li.append(box);
    const gen = generation;
    queue.push(async () => {
      if (gen !== generation) return;
      try {
        const blob = await fetchMedia(m.media_url);
        if (gen !== generation || !li.isConnected) return;
        const url = URL.createObjectURL(blob);
        urls.set(li, url);
        img.onload = () => {
          img.hidden = false;
          note.remove();
          li.dataset.thumb = "loaded";
          stats.thumbs += 1;
        };
        img.onerror = () => {
          note.textContent = "Cannot show this image.";
          li.dataset.thumb = "failed";
          stats.failed += 1;
        };
        img.src = url;
      } catch (err) {
        note.textContent =
          err.code === "media_gone" ? "WhatsApp no longer has this file." : `Image: ${err.message}`;
        li.dataset.thumb = "failed";
        stats.failed += 1;
      }
    });
    setTimeout(pump, 0); // after app.js has put the item in the list
  }

  function downloadButton(li, m) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small media-download";
    const name = m.media.filename || m.type;
    button.textContent = `Download ${name}${m.media.size ? ` (${fmtSize(m.media.size)})` : ""}`;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const blob = await fetchMedia(m.media_url);
        const url = URL.createObjectURL(blob);
        const a = document.createElement("a");
        a.href = url;
        a.download = m.media.filename || "file";
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      } catch (err) {
        button.textContent = `Not downloaded: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    });
    li.append(button);
  }

  function decorate(li, m) {
    if (!m || !m.media_url || !m.media) return;
    li.dataset.media = m.type || "media";
    const mime = String(m.media.mimetype || "");
    if (THUMB_TYPES.has(m.type) && mime.startsWith("image/")) thumbnail(li, m);
    else downloadButton(li, m);
  }

  function revokeAll() {
    generation += 1;
    queue.length = 0;
    for (const url of urls.values()) URL.revokeObjectURL(url);
    urls.clear();
  }

  /** Messages dropped from the list (it keeps the newest 50) give their blob URL back. */
  function watchList() {
    const list = $("#detail-messages");
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.removedNodes) {
          const url = urls.get(node);
          if (url) {
            URL.revokeObjectURL(url);
            urls.delete(node);
          }
        }
      }
    }).observe(list, { childList: true });
  }

  async function onSendFile(ev) {
    ev.preventDefault();
    const id = clientId();
    const out = $("#send-file-result");
    const to = $("#send-to").value.trim();
    const file = $("#send-file").files[0];
    if (!id || !key()) return;
    if (!to || !file) {
      out.textContent = "Enter a recipient (above) and choose a file.";
      return;
    }
    const form = new FormData();
    form.append("to", to);
    const caption = $("#send-file-caption").value;
    if (caption.trim()) form.append("caption", caption);
    form.append("file", file, file.name);
    const button = $("#send-file-form button[type=submit]");
    button.disabled = true;
    out.textContent = `Sending ${file.name}…`;
    try {
      const res = await fetch(`/api/clients/${encodeURIComponent(id)}/send-media`, {
        method: "POST",
        headers: { "X-Api-Key": key() },
        body: form,
        cache: "no-store",
      });
      const body = await res.json().catch(() => null);
      if (!res.ok) {
        out.textContent = `Not sent: ${(body && (body.detail || body.title)) || res.statusText}`;
        return;
      }
      stats.sent += 1;
      out.textContent = `Sent ${file.name} as ${body.type} (id ${body.id}).`;
      $("#send-file").value = "";
      $("#send-file-caption").value = "";
    } catch (err) {
      out.textContent = "Not sent: cannot reach the wamc server.";
    } finally {
      button.disabled = false;
    }
  }

  function init() {
    watchList();
    $("#detail-dialog").addEventListener("close", () => {
      revokeAll();
      $("#send-file-result").textContent = "";
    });
    $("#send-file-form").addEventListener("submit", onSendFile);
  }

  window.wamcMedia = { decorate, stats, liveUrls: () => urls.size };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
