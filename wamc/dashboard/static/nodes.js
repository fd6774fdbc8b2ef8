/* wamc admin dashboard: the cluster's nodes and where each client runs (WAMC_BACKEND=ray, issue
 * 14). Plain JS, an ES module app.js imports.
 *
 * GET /api/nodes feeds the Nodes panel (#nodes): each node alive, draining or lost, its slots
 * (used and free), its clients, memory and CPU as its agent reports them, with Drain (confirmed,
 * POST /api/nodes/{node}/drain) and Undo drain (the same call with {"drain": false}). Each client
 * card shows its node (status.node) and a "Move…" button (POST /api/clients/{id}/move {"node"}).
 * With the local backend the API answers {"backend": "local", "nodes": []}: #app gets no
 * data-cluster, so the panel, the cards' node row and their Move button stay hidden (nodes.css).
 *
 * Refreshing: the event stream has no node event (a node joining, dying, being drained or
 * reporting its memory is not one), so the listing is re-read, bounded: shortly after a burst of
 * client.state events (a client took or left a slot; one read per burst), and with app.js's 5 s
 * poll while the backend is ray and the page is visible. With the local backend it is read again
 * only when the stream reopens or the daemon restarts (its backend may have changed).
 */
import { $, $$, confirmDialog, setAttr, setHidden, setText, toast } from "./common.js";

const SOON_MS = 400;
const BADGES = { alive: "Alive", draining: "Draining", lost: "Lost" };

export const shortNode = (id) => (id ? String(id).slice(0, 12) : "—");

function fmtBytes(n) {
  if (n == null) return "—";
  if (n < 1024 ** 3) return `${Math.round(n / 1024 ** 2)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

function nodeState(n) {
  if (!n.alive) return "lost";
  return n.draining ? "draining" : "alive";
}

export class NodesPanel {
  /** ``api``: app.js's API call; ``onMoved(status)``: a move was accepted (202 + status). */
  constructor({ api, onMoved }) {
    this.api = api;
    this.onMoved = onMoved;
    this.backend = null; // "local" | "ray" once read
    this.nodes = new Map(); // id -> {data, el, refs, busy}
    this.seq = 0;
    this.soonTimer = null;
    this.moveFor = null;
    // Read by the browser tests.
    this.stats = { loads: 0, backend: null };
    window.wamcNodes = this.stats;
  }

  // ------------------------------------------------------------------------------ reading
  async refresh() {
    const seq = ++this.seq;
    let body;
    try {
      body = await this.api("GET", "/api/nodes");
    } catch (err) {
      if (seq === this.seq && this.backend === "ray") setText($("#nodes-error"), err.message);
      return;
    }
    if (seq !== this.seq) return; // a newer read is on its way
    setText($("#nodes-error"), "");
    this.apply(body.backend, body.nodes || []);
    this.stats.loads += 1;
    this.stats.backend = this.backend;
  }

  /** app.js's poll: the listing while clustered (memory, CPU, nodes joining or lost). */
  poll() {
    if (this.backend === "ray" && !document.hidden) this.refresh();
  }

  /** A client's state changed: it may have taken or left a slot. One read per burst. */
  soon() {
    if (this.backend !== "ray") return;
    clearTimeout(this.soonTimer);
    this.soonTimer = setTimeout(() => this.refresh(), SOON_MS);
  }

  reset() {
    this.seq += 1;
    clearTimeout(this.soonTimer);
    for (const entry of this.nodes.values()) entry.el.remove();
    this.nodes.clear();
    this.backend = null;
    this.stats.backend = null;
    delete $("#app").dataset.cluster;
    setHidden($("#nodes"), true);
  }

  apply(backend, list) {
    this.backend = backend;
    const clustered = backend === "ray";
    if (clustered) $("#app").dataset.cluster = "ray";
    else delete $("#app").dataset.cluster;
    setHidden($("#nodes"), !clustered);
    const seen = new Set();
    for (const data of list) {
      seen.add(data.id);
      let entry = this.nodes.get(data.id);
      if (!entry) {
        entry = this.create(data.id);
        this.nodes.set(data.id, entry);
        this.insert(entry);
      }
      entry.data = data;
      this.update(entry);
    }
    for (const [id, entry] of this.nodes) {
      if (!seen.has(id)) {
        entry.el.remove();
        this.nodes.delete(id);
      }
    }
    this.summary();
    setHidden($("#nodes-empty"), this.nodes.size > 0);
  }

  // ------------------------------------------------------------------------------ the panel
  create(id) {
    const el = $("#node-tpl").content.firstElementChild.cloneNode(true);
    el.dataset.node = id;
    const refs = {
      title: $(".nid", el),
      badge: $(".badge", el),
      progress: $(".progress", el),
      error: $(".error", el),
      f: {},
      act: {},
    };
    for (const dd of $$("[data-n]", el)) refs.f[dd.dataset.n] = dd;
    for (const b of $$("[data-node-act]", el)) {
      refs.act[b.dataset.nodeAct] = b;
      b.setAttribute("aria-label", `${b.textContent} node ${shortNode(id)}`);
    }
    refs.title.id = `node-${id}-title`;
    el.setAttribute("aria-labelledby", refs.title.id);
    setText(refs.title, shortNode(id));
    setAttr(refs.title, "title", id);
    return { el, refs, data: null, busy: false };
  }

  insert(entry) {
    const list = $("#node-list");
    const after = Array.from(list.children).find((c) => c.dataset.node > entry.el.dataset.node);
    list.insertBefore(entry.el, after || null);
  }

  update(entry) {
    const n = entry.data;
    const r = entry.refs;
    const state = nodeState(n);
    setAttr(entry.el, "data-state", state);
    setAttr(r.badge, "data-node-state", state);
    setText(r.badge, BADGES[state]);
    setText(r.f.address, n.host && n.host !== n.address ? `${n.address} (${n.host})` : n.address);
    const used = n.clients.length;
    setText(r.f.slots, `${used} used · ${n.free} free of ${n.slots}`);
    setAttr(r.f.slots, "data-used", used);
    setAttr(r.f.slots, "data-free", n.free);
    // A lost node's last report is stale: no figures rather than old ones.
    const mem = !n.alive || n.memory_total_bytes == null ? "—" : `${fmtBytes(n.memory_available_bytes)} free of ${fmtBytes(n.memory_total_bytes)}`;
    setText(r.f.memory, mem);
    const cpus = n.cpus ? ` of ${n.cpus} CPU${n.cpus === 1 ? "" : "s"}` : "";
    setText(r.f.cpu, !n.alive || n.cpu_percent == null ? "—" : `${Number(n.cpu_percent).toFixed(0)}%${cpus}`);
    setText(r.f.clients, used ? n.clients.join(", ") : "none");
    setHidden(r.act.drain, n.draining);
    setHidden(r.act.undrain, !n.draining);
    if (!entry.busy) for (const b of Object.values(r.act)) b.disabled = false;
  }

  summary() {
    let slots = 0;
    let used = 0;
    for (const { data } of this.nodes.values()) {
      if (!data.alive) continue;
      slots += data.slots;
      used += data.clients.length;
    }
    const count = this.nodes.size;
    const text = `${count} node${count === 1 ? "" : "s"} · ${used} of ${slots} slots used`;
    setText($("#nodes-summary"), count ? text : "");
  }

  async act(id, act) {
    const entry = this.nodes.get(id);
    if (!entry) return;
    const n = entry.data;
    const drain = act === "drain";
    if (drain) {
      const who = n.clients.length ? `its clients (${n.clients.join(", ")}) are moved` : "it has no clients to move";
      const ok = await confirmDialog(
        `Drain node ${shortNode(id)}? New clients stay away and ${who} to other nodes, one at a ` +
          "time, each with a clean stop. “Undo drain” lets clients come back; the moved ones stay " +
          "where they went.",
        "Drain",
        "Drain node?",
      );
      if (!ok) return;
    }
    entry.busy = true;
    for (const b of Object.values(entry.refs.act)) b.disabled = true;
    setText(entry.refs.error, "");
    setText(entry.refs.progress, drain ? "Draining…" : "Undoing the drain…");
    try {
      const path = `/api/nodes/${encodeURIComponent(id)}/drain`;
      const body = await this.api("POST", path, { drain });
      if (body && body.id === id) entry.data = body;
      const done = drain ? "Drain requested" : "Drain undone";
      setText(entry.refs.progress, done);
      setTimeout(() => entry.refs.progress.textContent === done && setText(entry.refs.progress, ""), 4000);
      this.soon();
    } catch (err) {
      setText(entry.refs.progress, "");
      setText(entry.refs.error, `${drain ? "Drain" : "Undo drain"} failed: ${err.message}`);
    } finally {
      entry.busy = false;
      this.update(entry);
      this.summary();
    }
  }

  // ------------------------------------------------------------------------------ clients
  /** A client card's node row (``f.node``): where it runs now. */
  decorate(entry) {
    const node = entry.data.node;
    setText(entry.refs.f.node, shortNode(node));
    setAttr(entry.refs.f.node, "title", node || "");
    setAttr(entry.el, "data-node", node || "");
  }

  openMove(id, current) {
    this.moveFor = id;
    setText($("#move-title"), `Move “${id}”`);
    setText($("#move-error"), "");
    setText($("#move-current"), current ? `It runs on ${shortNode(current)}.` : "It is not running now.");
    const select = $("#move-node");
    const options = [];
    for (const { data: n } of this.nodes.values()) {
      if (n.id === current) continue;
      const state = nodeState(n);
      const why = state === "alive" ? (n.free > 0 ? `${n.free} free of ${n.slots}` : "full") : state;
      const option = document.createElement("option");
      option.value = n.id;
      option.textContent = `${shortNode(n.id)} · ${n.address} · ${why}`;
      options.push(option);
    }
    select.replaceChildren(...options);
    setHidden($("#move-none"), options.length > 0);
    $("#move-form button[type=submit]").disabled = options.length === 0;
    $("#move-dialog").showModal();
    select.focus();
  }

  async submitMove(ev) {
    ev.preventDefault();
    const id = this.moveFor;
    const node = $("#move-node").value;
    if (!id || !node) return;
    const button = $("#move-form button[type=submit]");
    button.disabled = true;
    setText($("#move-error"), "");
    try {
      const body = await this.api("POST", `/api/clients/${encodeURIComponent(id)}/move`, { node });
      if (this.moveFor === id) $("#move-dialog").close();
      toast(`Moving ${id} to node ${shortNode(node)}`);
      this.onMoved(body);
      this.soon();
    } catch (err) {
      if (this.moveFor === id) setText($("#move-error"), `Not moved: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  wire() {
    $("#node-list").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-node-act]");
      if (!button || button.disabled) return;
      this.act(button.closest("[data-node]").dataset.node, button.dataset.nodeAct);
    });
    $("#move-form").addEventListener("submit", (ev) => this.submitMove(ev));
    $("#move-cancel").addEventListener("click", () => $("#move-dialog").close());
    $("#move-dialog").addEventListener("close", () => {
      this.moveFor = null;
    });
  }
}
