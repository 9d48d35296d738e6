"use strict";
// The tables: tasks (with progress), the selected task's holders and piece maps, hosts, preheats.
function pieceMap(holder, total) {
  if (!holder.exact) return bar(total > 0 ? holder.done / total : 0, holder.done + "/" + total + " (order unknown)", true);
  var map = el("div", null, "map");
  for (var i = 0; i < Math.max(total, holder.bitmap.length); i++) {
    var c = el("div", null, "cell" + (holder.bitmap.charAt(i) === "1" ? " done" : ""));
    c.title = "piece " + i; map.appendChild(c);
  }
  return map;
}
function hostCell(label, hostName, detail) {
  return stack([[label, "mono"], [hostName ? " " + hostName : "", "muted"], [detail ? " " + detail : "", "muted"]]);
}
function taskTitle(t) {
  var box = el("span");
  if (t.name) { box.appendChild(el("span", t.name, "name")); box.title = t.names.join(", "); }
  box.appendChild(el("span", t.url, t.name ? "url mono" : "mono"));
  return box;
}
function renderTasks(snap, selected, onSelect) {
  fill("tasks", snap.tasks.map(function (t) {
    var tr = row([taskTitle(t), el("span", t.status, t.status), size(t.source_length),
      bar(t.piece_total ? t.cdn_pieces / t.piece_total : 0, t.cdn_pieces + "/" + t.piece_total),
      bar(t.progress, Math.round(100 * t.progress) + "% of " + t.clients + " (" + t.done_clients + " done)")],
      "task" + (t.id === selected ? " selected" : ""));
    tr.dataset.task = t.id;
    tr.onclick = function () { onSelect(t.id); };
    return tr;
  }));
}
function renderDetail(task, hosts) {
  var box = document.getElementById("detail");
  if (!task) { box.replaceChildren(); return; }
  var h = el("h2", "Task ");
  h.appendChild(el("span", task.name || task.id, task.name ? "name" : "mono"));
  h.appendChild(el("span", " " + task.id.slice(0, 16), "muted mono"));
  var table = el("table");
  table.appendChild(hrow(["holder", "status", "pieces", "piece map"]));
  task.holders.forEach(function (hd) {
    table.appendChild(row([hostCell(hd.label, hd.host_name, hd.client), el("span", hd.status, hd.status),
      hd.done + "/" + task.piece_total + (hd.running ? " +" + hd.running + " running" : ""),
      pieceMap(hd, task.piece_total)]));
  });
  var serves = el("table");
  serves.appendChild(hrow(["source", "client", "pieces served", "on their way"]));
  task.edges.forEach(function (e) {
    serves.appendChild(row([el("span", nameOf(e.source, hosts), "mono"), el("span", nameOf(e.client, hosts), "mono"),
      e.pieces, e.running]));
  });
  var more = task.clients + 1 - task.holders.length;
  box.replaceChildren(h, table, el("div", more > 0 ? "and " + more + " more clients" : "", "muted"),
    el("h2", "Who serves whom (this task)"), serves);
}
function renderHosts(hosts) {
  fill("hosts", hosts.map(function (h) {
    var ids = el("details"), hist = h.history;
    ids.appendChild(el("summary", h.peers + (h.peers === 1 ? " peer" : " peers")));
    h.ids.forEach(function (id) { ids.appendChild(el("div", id, "mono")); });
    return row([hostCell(h.label, h.host_name), h.state, h.uploads ? "serves pieces" : "client only",
      hist.tasks_fetched + " / " + hist.tasks_served, size(hist.bytes_down), size(hist.bytes_up),
      size(hist.bytes_source), h.load, h.errors, ids], "host " + h.state);
  }));
}
function renderPreheats(preheats) {
  fill("preheats", preheats.map(function (p) {
    return row([el("span", p.ID.slice(0, 16), "mono"), p.Type, el("span", p.URL, "mono"), el("span", p.Status, p.Status),
      p.Children.length || "", p.ErrorMsg]);
  }));
}
