/* Admin dashboard: an invite link to the client owner's page (/portal) from a client's details.
 *
 * POST /api/clients/{id}/portal-invite answers {url, token_id, expires_at}; the token rides in
 * the URL's fragment (#token=…), which browsers never send to a server. The link is shown once,
 * with a Copy button; the token is an ordinary client token (revoke it with the token API).
 */
(() => {
  "use strict";

  const $ = (sel) => document.querySelector(sel);

  function reset() {
    $("#invite-out").hidden = true;
    $("#invite-url").value = "";
    $("#invite-result").textContent = "";
  }

  async function create() {
    const id = $("#detail-dialog").dataset.client;
    const key = sessionStorage.getItem("wamc.apiKey");
    if (!id || !key) return;
    const button = $("#invite-create");
    const out = $("#invite-result");
    button.disabled = true;
    out.textContent = "Creating…";
    try {
      const res = await fetch(`/api/clients/${encodeURIComponent(id)}/portal-invite`, {
        method: "POST",
        headers: { "X-Api-Key": key },
        cache: "no-store",
      });
      const body = await res.json().catch(() => null);
      if (!res.ok) {
        out.textContent = `Not created: ${(body && (body.detail || body.title)) || res.statusText}`;
        return;
      }
      $("#invite-url").value = body.url;
      $("#invite-out").hidden = false;
      const until = new Date(body.expires_at).toLocaleString();
      out.textContent = `Invite ${body.token_id} for ${id}, valid until ${until}. Shown only now.`;
      $("#invite-url").select();
    } catch (err) {
      out.textContent = "Cannot reach the wamc server.";
    } finally {
      button.disabled = false;
    }
  }

  async function copy() {
    const input = $("#invite-url");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      $("#invite-result").textContent = "Link copied.";
    } catch (err) {
      $("#invite-result").textContent = "Select the link and copy it (Ctrl+C).";
    }
  }

  function init() {
    $("#invite-create").addEventListener("click", create);
    $("#invite-copy").addEventListener("click", copy);
    $("#detail-dialog").addEventListener("close", reset);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
