"use strict";
// Helpers: every text a client chose goes in with textContent / createTextNode, never as markup.
var SVGNS = "http://www.w3.org/2000/svg";
function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function svg(tag, attrs, text) {
  var e = document.createElementNS(SVGNS, tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function titled(node, text) { node.appendChild(svg("title", {}, text)); return node; }
function wrap(node) { var td = el("td"); td.appendChild(node); return td; }
function row(cells, cls) {
  var tr = el("tr", null, cls);
  cells.forEach(function (c) { tr.appendChild(c instanceof Node ? wrap(c) : el("td", c)); });
  return tr;
}
function hrow(labels) {
  var tr = el("tr");
  labels.forEach(function (l) { tr.appendChild(el("th", l)); });
  return tr;
}
function fill(id, rows) {
  var body = document.querySelector("#" + id + " tbody");
  body.replaceChildren.apply(body, rows);
}
function size(n) {
  if (n === undefined || n === null || n < 0) return "unknown";
  var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + u[i];
}
function stack(lines, cls) {
  var box = el("span", null, cls);
  lines.forEach(function (l, i) { if (l[0]) box.appendChild(el(i ? "span" : "span", l[0], l[1])); });
  return box;
}
function bar(fraction, label, wide) {
  var box = el("span"), b = el("span", null, "bar" + (wide ? " wide" : "")), inner = el("div");
  inner.style.width = Math.max(0, Math.min(100, Math.round(100 * fraction))) + "%";
  b.appendChild(inner); box.appendChild(b); box.appendChild(el("span", label, "barlabel"));
  return box;
}
// The box of a drawn figure in page pixels, kept on the element so a test can find it.
function markBox(node) {
  var r = node.getBoundingClientRect();
  node.dataset.box = [Math.round(r.left + window.scrollX), Math.round(r.top + window.scrollY),
    Math.round(r.width), Math.round(r.height)].join(",");
}
