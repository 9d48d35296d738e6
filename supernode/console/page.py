"""The console page: static HTML + JS, no build step, no external assets. It polls
/api/v1/console/snapshot every second (relative URL, so it also works behind a path prefix).
Everything user-controlled (URLs, ids) is inserted with textContent, never as HTML."""

HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Dragonfly supernode console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
 h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 18px 0 6px; }
 table { border-collapse: collapse; width: 100%; background: #fff; }
 th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
 th { background: #eee; } tr.task { cursor: pointer; } tr.task:hover, tr.selected { background: #eef5ff; }
 .mono { font-family: ui-monospace, monospace; font-size: 12px; }
 .SUCCESS { color: #17803d; } .FAILED, .SOURCE_ERROR { color: #b3261e; } .RUNNING { color: #8a5a00; }
 .map { display: flex; flex-wrap: wrap; gap: 1px; max-width: 640px; }
 .cell { width: 9px; height: 9px; background: #ddd; } .cell.done { background: #2e9d4f; }
 .cell.run { background: #f0b400; }
 .bar { height: 9px; background: #ddd; width: 320px; } .bar > div { height: 9px; background: #2e9d4f; }
 #status { color: #666; } .muted { color: #888; }
</style>
</head>
<body>
<h1>Dragonfly supernode</h1>
<div id="status">loading...</div>
<h2>Tasks</h2>
<table id="tasks"><thead><tr><th>task</th><th>url</th><th>CDN</th><th>size</th><th>CDN pieces</th>
<th>clients (done)</th></tr></thead><tbody></tbody></table>
<div id="detail"></div>
<h2>Peers</h2>
<table id="peers"><thead><tr><th>peer</th><th>ip:port</th><th>role</th><th>load</th><th>errors</th>
<th>state</th></tr></thead><tbody></tbody></table>
<h2>Who serves whom</h2>
<table id="serves"><thead><tr><th>source peer</th><th>client peer</th><th>pieces</th></tr></thead><tbody></tbody></table>
<h2>Preheats</h2>
<table id="preheats"><thead><tr><th>id</th><th>type</th><th>url</th><th>status</th><th>layers</th><th>error</th>
</tr></thead><tbody></tbody></table>
<script>
"use strict";
var selected = null, last = null;
function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
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
function wrap(node) { var td = el("td"); td.appendChild(node); return td; }
function size(n) {
  if (n === undefined || n < 0) return "unknown";
  var u = ["B", "KiB", "MiB", "GiB"], i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function fill(id, rows) {
  var body = document.querySelector("#" + id + " tbody");
  body.replaceChildren.apply(body, rows);
}
function pieceMap(holder, total) {
  if (!holder.exact) {
    var bar = el("div", null, "bar"), inner = el("div");
    inner.style.width = (total > 0 ? Math.round(100 * holder.done / total) : 0) + "%";
    bar.appendChild(inner); bar.title = holder.done + "/" + total + " pieces (order unknown)";
    return bar;
  }
  var map = el("div", null, "map");
  for (var i = 0; i < Math.max(total, holder.bitmap.length); i++) {
    var c = el("div", null, "cell" + (holder.bitmap.charAt(i) === "1" ? " done" : ""));
    c.title = "piece " + i; map.appendChild(c);
  }
  return map;
}
function renderDetail(task) {
  var box = document.getElementById("detail");
  if (!task) { box.replaceChildren(); return; }
  var h = el("h2", "Task "), t = el("span", task.id, "mono");
  h.appendChild(t);
  var table = el("table");
  table.appendChild(hrow(["holder", "status", "pieces", "piece map"]));
  task.holders.forEach(function (hd) {
    table.appendChild(row([el("span", hd.name + (hd.ip ? " (" + hd.ip + ")" : ""), "mono"),
      el("span", hd.status, hd.status), hd.done + "/" + task.piece_total + (hd.running ? " +" + hd.running + " running" : ""),
      pieceMap(hd, task.piece_total)]));
  });
  var serves = el("table");
  serves.appendChild(hrow(["source peer", "client peer", "pieces"]));
  task.serves.forEach(function (s) { serves.appendChild(row([el("span", s.source, "mono"), el("span", s.client, "mono"), s.pieces])); });
  box.replaceChildren(h, table, el("h2", "Who serves whom (this task's clients)"), serves);
}
function render(snap) {
  last = snap;
  document.getElementById("status").textContent = snap.tasks.length + " tasks, " +
    snap.peers.length + " peers, updated " + new Date(snap.now * 1000).toLocaleTimeString();
  fill("tasks", snap.tasks.map(function (t) {
    var tr = row([el("span", t.id.slice(0, 16), "mono"), el("span", t.url, "mono"), el("span", t.status, t.status),
      size(t.source_length), t.cdn_pieces + "/" + t.piece_total,
      Object.keys(t.clients).length + " (" + t.done_clients + ")"], "task" + (t.id === selected ? " selected" : ""));
    tr.dataset.task = t.id;
    tr.onclick = function () { selected = t.id; render(last); };
    return tr;
  }));
  if (!selected && snap.tasks.length) selected = snap.tasks[snap.tasks.length - 1].id;
  renderDetail(snap.tasks.filter(function (t) { return t.id === selected; })[0]);
  fill("peers", snap.peers.map(function (p) {
    return row([el("span", p.id, "mono"), p.ip + ":" + p.port, p.supernode ? "supernode" : (p.uploads ? "peer" : "client only"),
      p.load, p.client_errors + "/" + p.service_errors, p.down ? "down" : "up"]);
  }));
  fill("serves", snap.serves.map(function (s) {
    return row([el("span", s.source, "mono"), el("span", s.client, "mono"), s.pieces]);
  }));
  fill("preheats", snap.preheats.map(function (p) {
    return row([el("span", p.ID.slice(0, 16), "mono"), p.Type, el("span", p.URL, "mono"), el("span", p.Status, p.Status),
      p.Children.length || "", p.ErrorMsg]);
  }));
}
function poll() {
  fetch("api/v1/console/snapshot", {cache: "no-store"}).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(render).catch(function (e) {
    document.getElementById("status").textContent = "cannot load the snapshot: " + e.message;
  }).finally(function () { setTimeout(poll, 1000); });
}
poll();
</script>
</body>
</html>
"""
