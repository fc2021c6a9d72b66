// graph.js draws a flow's DAG (the JSON of ?dag=json) as SVG, laid out with
// dagre, and colours its nodes by the status of a request's node runs.
//
// Every definition node is drawn as one box whose data-node attribute is its
// path: "a" at the top level, "sub/inner" inside a sub-DAG, "each[*]/x"
// inside a foreach and "cond[yes]/x" inside a conditional's "yes" branch.
// A node with a sub-DAG, a foreach or conditional branches also gets a
// dashed cluster holding them, reached by a dashed edge.
"use strict";

const FlowGraph = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const NODE_H = 38;
  // Each drawing has its own arrow marker: a marker inside a hidden
  // drawing would hide the arrows of the others.
  let drawings = 0;

  // build adds the nodes of dag d (at path prefix, inside cluster parent)
  // to the dagre graph g, and returns the ids of its start node.
  function build(g, d, prefix, parent) {
    const names = Object.keys(d.nodes || {}).sort((a, b) => d.nodes[a]["node-index"] - d.nodes[b]["node-index"]);
    for (const name of names) {
      const n = d.nodes[name];
      const id = prefix + name;
      const label = name;
      const width = Math.max(70, 8 * Math.max(label.length, (n.kind || "").length + 2) + 24);
      g.setNode(id, { id, label, kind: n.kind, width, height: NODE_H, node: n });
      if (parent) g.setParent(id, parent);
      for (const [key, sub] of branches(n)) {
        const cid = id + "[" + key + "]";
        g.setNode(cid, { cluster: true, label: clusterLabel(n, name, key) });
        if (parent) g.setParent(cid, parent);
        const start = build(g, sub, cid + "/", cid);
        if (start) g.setEdge(id, start, { branch: true });
      }
    }
    for (const name of names) {
      const n = d.nodes[name];
      for (const c of n.childrens || []) {
        g.setEdge(prefix + name, prefix + c, { execOnly: !!(n["child-exec-only"] || {})[c] });
      }
    }
    return d["start-node"] ? prefix + d["start-node"] : null;
  }

  // branches lists the [key, dag] pairs nested in node n.
  function branches(n) {
    if (n["sub-dag"]) return [["", n["sub-dag"]]];
    if (n["foreach-dag"]) return [["*", n["foreach-dag"]]];
    if (n["conditional-dags"]) return Object.keys(n["conditional-dags"]).sort().map(k => [k, n["conditional-dags"][k]]);
    return [];
  }

  function clusterLabel(n, name, key) {
    if (n["foreach-dag"]) return name + ": for each";
    if (n["conditional-dags"]) return name + ": when " + key;
    return name + ": sub-DAG";
  }

  function el(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // render draws dag into container (replacing what it held) and returns
  // the drawing, whose colour(statuses) paints the nodes.
  function render(container, dag) {
    const g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 36, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    build(g, dag, "", null);
    // An empty cluster (a branch without nodes) cannot be laid out.
    for (const id of g.nodes()) {
      const v = g.node(id);
      if (v.cluster && g.children(id).length === 0) { v.cluster = false; v.width = 80; v.height = 24; v.empty = true; }
    }
    dagre.layout(g);
    const gr = g.graph();
    const svg = el("svg", { viewBox: `0 0 ${gr.width} ${gr.height}`, width: gr.width, height: gr.height, role: "img" });
    const arrow = "arrow-" + ++drawings;
    el("defs", {}, svg).innerHTML =
      `<marker id="${arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">` +
      `<path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker>`;
    const clusters = el("g", { class: "clusters" }, svg);
    const edges = el("g", { class: "edges" }, svg);
    const nodes = el("g", { class: "nodes" }, svg);
    const boxes = new Map();
    for (const id of g.nodes()) {
      const v = g.node(id);
      if (v.cluster || v.empty) {
        const c = el("g", { class: "cluster", "data-cluster": id }, clusters);
        el("rect", { x: v.x - v.width / 2, y: v.y - v.height / 2, width: v.width, height: v.height, rx: 6 }, c);
        el("text", { x: v.x - v.width / 2 + 6, y: v.y - v.height / 2 + 12 }, c).textContent = v.label;
        continue;
      }
      const box = el("g", { class: "node", "data-node": id, transform: `translate(${v.x - v.width / 2},${v.y - v.height / 2})` }, nodes);
      el("rect", { width: v.width, height: v.height, rx: 5 }, box);
      el("text", { x: v.width / 2, y: 14 }, box).textContent = v.label;
      el("text", { x: v.width / 2, y: 29, class: "kind" }, box).textContent = v.kind || "";
      el("title", {}, box).textContent = id;
      boxes.set(id, box);
    }
    for (const e of g.edges()) {
      const v = g.edge(e);
      const pts = v.points || [];
      if (pts.length < 2) continue;
      const cls = "edge" + (v.branch ? " branch" : "") + (v.execOnly ? " exec-only" : "");
      const eg = el("g", { class: cls, "data-edge": e.v + " -> " + e.w }, edges);
      el("path", { d: "M" + pts.map(p => `${p.x},${p.y}`).join(" L"), "marker-end": `url(#${arrow})` }, eg);
    }
    container.replaceChildren(svg);
    return { colour: statuses => colour(boxes, statuses) };
  }

  // colour sets each box's st-<status> class from statuses, a Map of node
  // path to the aggregated status and a tooltip.
  function colour(boxes, statuses) {
    for (const [id, box] of boxes) {
      const s = statuses.get(id);
      box.setAttribute("class", "node" + (s ? " st-" + s.status : ""));
      box.querySelector("title").textContent = s ? `${id}: ${s.summary}` : id;
    }
  }

  // pathOf maps an instance id of /flow/{id}/state ("each[k1]/x") to the
  // path of its definition node ("each[*]/x"), walking dag.
  function pathOf(dag, instance) {
    const parts = [];
    let d = dag;
    const segs = instance.split("/");
    for (let i = 0; i < segs.length; i++) {
      const m = /^(.*?)(?:\[(.*)\])?$/.exec(segs[i]);
      const name = m[1];
      const key = m[2] === undefined ? "" : decodeURIComponent(m[2]);
      const n = d && d.nodes ? d.nodes[name] : null;
      if (i === segs.length - 1 || !n) { parts.push(name); continue; }
      if (n["conditional-dags"]) { parts.push(`${name}[${key}]`); d = n["conditional-dags"][key]; }
      else if (n["foreach-dag"]) { parts.push(`${name}[*]`); d = n["foreach-dag"]; }
      else { parts.push(`${name}[]`); d = n["sub-dag"]; }
    }
    return parts.join("/");
  }

  // The most telling status of several runs of one definition node (the
  // branches of a foreach) comes first.
  const RANK = ["failed", "running", "completing", "waiting", "pending", "succeeded", "cancelled"];

  // aggregate turns the nodes of a request's state into the statuses that
  // colour draws with.
  function aggregate(dag, nodes) {
    const out = new Map();
    for (const [inst, st] of Object.entries(nodes || {})) {
      const p = pathOf(dag, inst);
      const cur = out.get(p) || { status: st.status, counts: {} };
      cur.counts[st.status] = (cur.counts[st.status] || 0) + 1;
      const rank = s => (RANK.indexOf(s) + RANK.length + 1) % (RANK.length + 1);
      if (rank(st.status) < rank(cur.status)) cur.status = st.status;
      cur.summary = Object.entries(cur.counts).map(([k, v]) => `${v} ${k}`).join(", ");
      out.set(p, cur);
    }
    return out;
  }

  return { render, aggregate, pathOf };
})();
