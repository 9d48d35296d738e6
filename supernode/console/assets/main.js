"use strict";
// Poll the snapshot every 2 s and redraw (2000 peers cost the supernode ~55 ms a snapshot:
// BENCHMARKS.md). The URL is relative (works behind a path prefix) and carries no
// user:password part, which fetch() refuses; the browser adds the Basic credentials it used
// for the page itself.
var selected = null, last = null;
function render(snap) {
  last = snap;
  var t = snap.totals;
  document.getElementById("status").textContent = t.tasks + " tasks, " + t.hosts + " hosts, updated " +
    new Date(snap.now * 1000).toLocaleTimeString() +
    (t.tasks > snap.tasks.length ? " (newest " + snap.tasks.length + " tasks shown)" : "");
  if (!selected && snap.tasks.length) selected = snap.tasks[snap.tasks.length - 1].id;
  drawSwarm(document.getElementById("swarm"), snap.hosts, snap.edges);
  drawThroughput(document.getElementById("throughput"), snap.series);
  renderTasks(snap, selected, function (id) { selected = id; render(last); });
  renderDetail(snap.tasks.filter(function (x) { return x.id === selected; })[0], snap.hosts);
  renderHosts(snap.hosts);
  renderPreheats(snap.preheats);
}
function snapshotUrl() {
  var u = new URL("api/v1/console/snapshot", location.href);
  u.username = ""; u.password = "";
  return u.href;
}
function poll() {
  fetch(snapshotUrl(), {cache: "no-store", credentials: "same-origin"}).then(function (r) {
    if (r.status === 401) throw new Error("the console needs the apiToken (reload the page to log in)");
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(render).catch(function (e) {
    document.getElementById("status").textContent = "cannot load the snapshot: " + e.message;
  }).finally(function () { setTimeout(poll, 2000); });
}
poll();
