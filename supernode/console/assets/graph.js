"use strict";
// The swarm as a graph: the supernode in the middle, hosts on a ring, one arrow per host pair
// that served pieces (width grows with the pieces, orange while pieces are on their way).
var MAX_GRAPH_NODES = 60;
function drawSwarm(box, hosts, edges) {
  var W = +box.getAttribute("width"), H = +box.getAttribute("height"), cx = W / 2, cy = H / 2;
  var shown = hosts.filter(function (h) { return h.state !== "gone"; }).slice(0, MAX_GRAPH_NODES);
  var pos = {supernode: {x: cx, y: cy}}, radius = Math.min(W, H) / 2 - 36;
  shown.forEach(function (h, i) {
    var a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(shown.length, 1);
    pos[h.key] = {x: Math.round(cx + radius * Math.cos(a)), y: Math.round(cy + radius * Math.sin(a))};
  });
  var parts = [svg("defs", {})];
  parts[0].appendChild(arrowHead("arrow", "#9aa7b5"));
  parts[0].appendChild(arrowHead("arrow-live", "#f08a00"));
  edges.forEach(function (e) {
    var a = pos[e.source], b = pos[e.client];
    if (!a || !b) return;
    var r = e.client === "supernode" ? 18 : 12, dx = b.x - a.x, dy = b.y - a.y, d = Math.hypot(dx, dy) || 1;
    var line = svg("line", {x1: a.x, y1: a.y, x2: Math.round(b.x - dx * r / d), y2: Math.round(b.y - dy * r / d),
      "class": "edge" + (e.running ? " live" : ""), "stroke-width": (1 + Math.log2(1 + e.pieces)).toFixed(1),
      "marker-end": "url(#" + (e.running ? "arrow-live" : "arrow") + ")", "data-edge": e.source + ">" + e.client});
    parts.push(titled(line, nameOf(e.source, hosts) + " \u2192 " + nameOf(e.client, hosts) + ": " + e.pieces +
      " pieces served" + (e.running ? ", " + e.running + " on their way" : "")));
  });
  parts.push(node("supernode", "supernode", cx, cy, 16, "supernode", "the supernode (CDN)"));
  shown.forEach(function (h) {
    var role = h.state === "down" ? "down" : (h.uploads ? "uploads" : "client");
    parts.push(node(h.key, h.label, pos[h.key].x, pos[h.key].y, 10, role,
      h.label + (h.host_name ? " (" + h.host_name + ")" : "") + ", " + h.state));
  });
  if (!shown.length) parts.push(svg("text", {x: 12, y: H - 12, "class": "muted"}, "no peers yet"));
  box.replaceChildren.apply(box, parts);
  markBox(box);
}
function arrowHead(id, color) {
  var m = svg("marker", {id: id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 14, markerHeight: 14, markerUnits: "userSpaceOnUse",
    orient: "auto-start-reverse"});
  m.appendChild(svg("path", {d: "M0,0 L10,5 L0,10 z", fill: color}));
  return m;
}
function node(key, label, x, y, r, role, title) {
  var g = svg("g", {"class": "node " + role, "data-node": key, "data-x": x, "data-y": y});
  g.appendChild(svg("circle", {cx: x, cy: y, r: r}));
  g.appendChild(svg("text", {x: x, y: y + r + 12, "text-anchor": "middle"}, label));
  return titled(g, title);
}
function nameOf(key, hosts) {
  if (key === "supernode") return "supernode";
  var h = hosts.filter(function (x) { return x.key === key; })[0];
  return h ? h.label : key;
}
