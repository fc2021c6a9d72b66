// app.js is the dashboard page: the flows list, a flow's DAG and requests,
// and a request's node runs, result and controls. It reads everything from
// the dashboard's own API (api/...), relative to the page, and polls it.
// Views are chosen by the URL's hash: #/flow/<name> and #/flow/<name>/<id>.
"use strict";

(() => {
  const POLL_MS = 1500;
  const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const $ = id => document.getElementById(id);
  const view = { flow: "", id: "", dag: null, flowGraph: null, reqGraph: null, dagFlow: "", cursor: "", config: {} };
  let timer = null;

  async function api(path, options) {
    const resp = await fetch(base + "api/" + path, options);
    const text = await resp.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = { error: text }; }
    if (!resp.ok) {
      const err = new Error((body && body.error) || resp.status + " " + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  const enc = encodeURIComponent;

  function text(tag, content, cls) {
    const e = document.createElement(tag);
    e.textContent = content == null ? "" : String(content);
    if (cls) e.className = cls;
    return e;
  }

  function badge(state) { return text("span", state, "badge st-" + state); }

  function when(t) { return t ? new Date(t).toLocaleTimeString() : ""; }

  function duration(ms) {
    if (ms == null || isNaN(ms)) return "";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
    return Math.round(ms / 60000) + " min";
  }

  function span(start, end) {
    if (!start) return null;
    return (end ? new Date(end) : new Date()) - new Date(start);
  }

  function setStatus(msg) { $("status").textContent = msg || ""; }

  // --- flows ---------------------------------------------------------------

  async function loadFlows() {
    const flows = await api("flows");
    const list = $("flow-list");
    list.replaceChildren(...flows.map(f => {
      const li = document.createElement("li");
      const a = text("a", f.name, f.name === view.flow ? "selected" : "");
      a.href = "#/flow/" + enc(f.name);
      a.dataset.flow = f.name;
      li.appendChild(a);
      return li;
    }));
    if (flows.length === 0) list.replaceChildren(text("li", "no flow deployed", "muted"));
  }

  async function ensureDag() {
    if (view.dagFlow === view.flow && view.dag) return;
    view.dag = await api("flows/" + enc(view.flow) + "/dag");
    view.dagFlow = view.flow;
    view.flowGraph = FlowGraph.render($("flow-dag"), view.dag);
    view.reqGraph = FlowGraph.render($("req-dag"), view.dag);
  }

  // --- requests of a flow ----------------------------------------------------

  // loadRequests refreshes the list, as many rows as it shows (the first
  // page, and those that "more" added).
  async function loadRequests() {
    const shown = $("requests").tBodies[0].rows.length;
    const q = new URLSearchParams({ limit: String(Math.min(500, Math.max(50, shown))) });
    const state = $("state-filter").value;
    if (state) q.set("state", state);
    let page;
    try {
      page = await api("flows/" + enc(view.flow) + "/requests?" + q);
    } catch (e) {
      $("requests-note").textContent = "cannot list requests: " + e.message;
      return;
    }
    $("requests-note").textContent = page.requests.length ? "" : "no request" + (state ? " " + state : "");
    $("requests").tBodies[0].replaceChildren(...page.requests.map(requestRow));
    view.cursor = page.next_cursor || "";
    $("more-requests").hidden = !view.cursor;
  }

  async function moreRequests() {
    const q = new URLSearchParams({ limit: "50", cursor: view.cursor });
    const state = $("state-filter").value;
    if (state) q.set("state", state);
    const page = await api("flows/" + enc(view.flow) + "/requests?" + q);
    $("requests").tBodies[0].append(...page.requests.map(requestRow));
    view.cursor = page.next_cursor || "";
    $("more-requests").hidden = !view.cursor;
  }

  function requestRow(r) {
    const tr = document.createElement("tr");
    tr.dataset.request = r.id;
    tr.dataset.state = r.state;
    const id = text("td", "");
    const a = text("a", r.id);
    a.href = "#/flow/" + enc(view.flow) + "/" + enc(r.id);
    id.appendChild(a);
    const st = document.createElement("td");
    st.appendChild(badge(r.state));
    const ms = r.duration_ms != null ? r.duration_ms : span(r.started, r.ended);
    tr.append(id, st, text("td", when(r.started)), text("td", duration(ms)),
      text("td", [r.failed_node, r.error].filter(Boolean).join(": "), "error"));
    tr.addEventListener("click", ev => { if (ev.target.tagName !== "A") location.hash = a.getAttribute("href"); });
    return tr;
  }

  // --- one request ---------------------------------------------------------

  async function loadRequest() {
    let v;
    try {
      v = await api("flows/" + enc(view.flow) + "/requests/" + enc(view.id));
    } catch (e) {
      $("req-state").textContent = e.status === 404 ? "unknown" : "error";
      $("req-error").hidden = false;
      $("req-error").textContent = e.message;
      return;
    }
    const s = v.state;
    $("req-state").replaceWith(Object.assign(badge(s.state), { id: "req-state" }));
    $("req-times").textContent = "started " + when(s.created) + (s.ended ? ", ended " + when(s.ended) : "") +
      " (" + duration(span(s.created, s.ended)) + ")" + (s.redrives ? ", redriven " + s.redrives + "×" : "");
    $("req-error").hidden = !s.error;
    $("req-error").textContent = s.error || "";
    setButtons(s.state);
    view.reqGraph.colour(FlowGraph.aggregate(view.dag, s.nodes));
    renderRuns(s);
    renderResult(v.result);
  }

  function setButtons(state) {
    $("btn-pause").disabled = state !== "running";
    $("btn-resume").disabled = state !== "paused";
    $("btn-stop").disabled = state !== "running" && state !== "paused";
    $("btn-redrive").disabled = state !== "failed" && state !== "stopped";
  }

  function runRow(name, st, cls) {
    const tr = document.createElement("tr");
    if (cls) tr.className = cls;
    tr.dataset.node = name;
    const cell = document.createElement("td");
    cell.appendChild(badge(st.status));
    tr.append(text("td", name), cell, text("td", st.attempts || ""), text("td", when(st.started)),
      text("td", duration(span(st.started, st.ended))), text("td", st.error || "", "error"));
    return tr;
  }

  function renderRuns(s) {
    const rows = [];
    const entries = Object.entries(s.nodes || {}).sort(([, a], [, b]) =>
      (a.started ? new Date(a.started) : Infinity) - (b.started ? new Date(b.started) : Infinity));
    for (const [name, st] of entries) {
      (st.earlier || []).forEach((e, i) => rows.push(runRow(`${name} (before redrive ${i + 1})`, e, "earlier")));
      rows.push(runRow(name, st));
      for (const f of st.faults || []) {
        const tr = text("tr", "");
        tr.className = "fault";
        tr.title = f.node;
        tr.append(text("td", `fault: ${name} [${f.key}]`), text("td", "tolerated"), text("td", f.attempts || ""),
          text("td", ""), text("td", ""), text("td", f.error, "error"));
        rows.push(tr);
      }
    }
    $("runs").tBodies[0].replaceChildren(...rows);
    renderTimeline(entries, s);
  }

  function renderTimeline(entries, s) {
    const started = entries.map(([, st]) => st.started).filter(Boolean).map(t => +new Date(t));
    if (!started.length) { $("timeline").replaceChildren(); return; }
    const t0 = Math.min(+new Date(s.created), ...started);
    const t1 = Math.max(s.ended ? +new Date(s.ended) : Date.now(), ...entries.map(([, st]) => st.ended ? +new Date(st.ended) : Date.now()));
    const width = Math.max(1, t1 - t0);
    $("timeline").replaceChildren(...entries.filter(([, st]) => st.started).map(([name, st]) => {
      const row = text("div", "", "row");
      const track = text("div", "", "track");
      const bar = text("div", "", "bar st-" + st.status);
      const a = +new Date(st.started), b = st.ended ? +new Date(st.ended) : Date.now();
      bar.style.left = (100 * (a - t0) / width) + "%";
      bar.style.width = (100 * (b - a) / width) + "%";
      bar.title = `${name}: ${duration(b - a)}`;
      track.appendChild(bar);
      row.append(text("span", name, "name"), track);
      return row;
    }));
  }

  function renderResult(res) {
    const pre = $("req-result");
    if (!res) { pre.className = "muted"; pre.textContent = "not ended yet"; return; }
    let body = res.body;
    try { body = JSON.stringify(JSON.parse(body), null, 2); } catch { /* not JSON: as it is */ }
    pre.className = res.status >= 400 ? "error" : "";
    pre.textContent = (res.status === 200 ? "" : "HTTP " + res.status + "\n") + body + (res.cut ? "\n… (cut)" : "");
  }

  async function act(action) {
    $("action-note").textContent = action + "…";
    try {
      const r = await api("flows/" + enc(view.flow) + "/requests/" + enc(view.id) + "/" + action,
        { method: "POST", headers: { "X-Faas-Flow-Dashboard": "1" } });
      $("action-note").textContent = (r && r.message) || action + " done";
    } catch (e) {
      $("action-note").textContent = action + " failed: " + e.message;
    }
    await refresh();
  }

  function traceLink() {
    const link = $("trace-link");
    link.hidden = !view.config.jaeger_url;
    if (!link.hidden) {
      const tags = JSON.stringify({ "faasflow.request_id": view.id });
      link.href = view.config.jaeger_url + "/search?service=" + enc(view.flow) + "&tags=" + enc(tags);
    }
  }

  // --- routing and polling ---------------------------------------------------

  function route() {
    const m = /^#\/flow\/([^/]+)(?:\/([^/]+))?$/.exec(location.hash);
    view.flow = m ? decodeURIComponent(m[1]) : "";
    view.id = m && m[2] ? decodeURIComponent(m[2]) : "";
    $("welcome").hidden = !!view.flow;
    $("flow-view").hidden = !view.flow || !!view.id;
    $("request-view").hidden = !view.id;
    $("flow-title").textContent = view.flow;
    $("req-id").textContent = view.id;
    $("action-note").textContent = "";
    $("req-result").textContent = "";
    $("runs").tBodies[0].replaceChildren();
    $("requests").tBodies[0].replaceChildren();
    const crumbs = $("crumbs");
    crumbs.replaceChildren();
    if (view.flow) {
      const a = text("a", view.flow);
      a.href = "#/flow/" + enc(view.flow);
      crumbs.appendChild(a);
      if (view.id) crumbs.append(" / " + view.id);
    }
    traceLink();
    document.querySelectorAll("#flow-list a").forEach(a => a.classList.toggle("selected", a.dataset.flow === view.flow));
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      await loadFlows();
      if (view.flow) {
        await ensureDag();
        if (view.id) await loadRequest(); else await loadRequests();
      }
      setStatus("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      setStatus("error: " + e.message);
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  async function start() {
    try { view.config = await api("config"); } catch { view.config = {}; }
    for (const action of ["pause", "resume", "stop", "redrive"]) {
      $("btn-" + action).addEventListener("click", () => act(action));
    }
    $("state-filter").addEventListener("change", () => { $("requests").tBodies[0].replaceChildren(); refresh(); });
    $("more-requests").addEventListener("click", moreRequests);
    window.addEventListener("hashchange", route);
    route();
  }

  start();
})();
