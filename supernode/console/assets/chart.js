"use strict";
// Throughput over time, stacked by where clients got their bytes (supernode, other peers, the
// source directly), and the CDN's own fetches from origins as a dashed line.
var KINDS = [["supernode", "from the supernode"], ["p2p", "from peers (P2P)"], ["source", "clients from the source"]];
function drawThroughput(box, series) {
  var W = +box.getAttribute("width"), H = +box.getAttribute("height");
  var left = 64, right = W - 10, top = 44, bottom = H - 24, pts = series.points || [];
  var peak = 1;
  pts.forEach(function (p) { peak = Math.max(peak, p.supernode + p.p2p + p.source, p.origin); });
  var n = Math.max(pts.length - 1, 1);
  function x(i) { return left + (right - left) * i / n; }
  function y(v) { return bottom - (bottom - top) * v / peak; }
  var parts = [svg("line", {x1: left, y1: bottom, x2: right, y2: bottom, "class": "axis"}),
    svg("line", {x1: left, y1: top, x2: left, y2: bottom, "class": "axis"}),
    svg("text", {x: left - 4, y: top + 4, "text-anchor": "end"}, size(peak) + "/s"),
    svg("text", {x: left - 4, y: bottom, "text-anchor": "end"}, "0"),
    svg("text", {x: left, y: H - 6}, pts.length ? "-" + Math.round(pts.length * series.step / 60) + " min" : ""),
    svg("text", {x: right, y: H - 6, "text-anchor": "end"}, "now")];
  var base = pts.map(function () { return 0; });
  KINDS.forEach(function (k) {
    var upper = pts.map(function (p, i) { return base[i] + p[k[0]]; });
    if (pts.length) {
      var d = "M" + pts.map(function (p, i) { return x(i).toFixed(1) + "," + y(upper[i]).toFixed(1); }).join(" L");
      for (var i = pts.length - 1; i >= 0; i--) d += " L" + x(i).toFixed(1) + "," + y(base[i]).toFixed(1);
      parts.push(titled(svg("path", {d: d + " Z", "class": "area " + k[0], "data-kind": k[0]}), k[1]));
    }
    base = upper;
  });
  if (pts.length) {
    parts.push(titled(svg("polyline", {points: pts.map(function (p, i) { return x(i).toFixed(1) + "," + y(p.origin).toFixed(1); }).join(" "),
      "class": "line origin", "data-kind": "origin"}), "the CDN fetching from origins (counted when a build ends)"));
  }
  parts.push(legend(series.totals || {}, left));
  box.replaceChildren.apply(box, parts);
  markBox(box);
}
function legend(totals, left) {
  var g = svg("g", {"class": "legend"}), sum = 0, at = left;
  KINDS.forEach(function (k) { sum += totals[k[0]] || 0; });
  KINDS.concat([["origin", "CDN from origins"]]).forEach(function (k, i) {
    var share = k[0] === "origin" ? size(totals.origin || 0) : (sum ? Math.round(100 * (totals[k[0]] || 0) / sum) + "%" : "-");
    var item = svg("g", {"data-share": k[0]});
    var swatch = {x: at, y: 8 + 16 * (i % 2), width: 10, height: 10, "class": "area " + k[0]};
    if (k[0] === "origin") swatch.fill = "#7b3fb5";
    item.appendChild(svg("rect", swatch));
    item.appendChild(svg("text", {x: at + 14, y: 17 + 16 * (i % 2)}, k[1] + ": " + share));
    g.appendChild(item);
    if (i % 2) at += 250;
  });
  return g;
}
