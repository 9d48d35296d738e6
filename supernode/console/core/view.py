"""The JSON behind the console (docs/operations.md#console): the core's snapshot, the ledger's
history and series, and the preheats, shaped for the page and bounded.

Peers are shown as hosts (supernode/console/core/identity.py): holders, edges and the hosts table all
name a host by the same key and label. Every list has a cap (MAX_*), and every string that a
client chose is cut to a length (MAX_TEXT, MAX_URL): a hostile host can make the console say
little, never make it large. Escaping is the page's job (it inserts text, never markup).

Piece maps: the CDN builds a file in order, so its map is exact (the first `cdn_pieces` pieces).
A client's map uses a per-piece `bitmap` ("1" done, "0" not) up to MAX_BITMAP pieces; beyond,
or without one, only its count with `exact: false` — the page then draws a bar, not a map.
"""

from typing import Any

from common import image_names
from supernode.console.core.identity import SUPERNODE, host_key, host_label

MAX_TASKS = 200  # the newest tasks
MAX_HOSTS = 300  # hosts with peers first, then the most recently seen
MAX_HOLDERS = 200  # clients listed per task (the progress counts them all)
MAX_EDGES = 500  # the busiest host pairs
MAX_PEERS = 1000  # raw peer records and (source PID, client PID) pairs, as detail
MAX_IDS = 8  # peer ids listed per host
MAX_BITMAP = 4096  # pieces drawn one by one
MAX_TEXT = 64  # host names, labels
MAX_URL = 512


def cut(text: str, limit: int = MAX_TEXT) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def console_snapshot(
    snapshot: dict[str, Any], ledger: dict[str, Any], preheats: "list[dict[str, Any]]", now: float
) -> dict[str, Any]:
    peers = {p["id"]: p for p in snapshot.get("peers", [])}
    super_ids = {pid for pid, p in peers.items() if p.get("supernode")}
    node_of = {pid: (SUPERNODE if pid in super_ids else host_key(p.get("ip", ""))) for pid, p in peers.items()}
    all_tasks = snapshot.get("tasks", [])
    serves_to, flows_to = _by_client(snapshot.get("serves", [])), _by_client(snapshot.get("flows", []))
    tasks = [_task(t, peers, node_of, serves_to, flows_to) for t in all_tasks[-MAX_TASKS:]]
    hosts = _hosts(peers, super_ids, ledger.get("hosts", {}))
    edges = _edges(snapshot.get("serves", []), snapshot.get("flows", []), node_of)
    return {
        "now": now,
        "tasks": tasks,
        "hosts": hosts[:MAX_HOSTS],
        "edges": edges[:MAX_EDGES],
        "series": ledger.get("series", {}),
        "preheats": preheats,
        # the core's own records behind `hosts` and `edges`, for scripts (ids, not display names)
        "peers": snapshot.get("peers", [])[:MAX_PEERS],
        "serves": snapshot.get("serves", [])[:MAX_PEERS],
        "totals": {"tasks": len(all_tasks), "hosts": len(hosts), "edges": len(edges)},
    }


def task_name(task: dict[str, Any]) -> str:
    """What registrants called the task (dfdaemon: the image), else a layer URL's repository, else ""."""
    names = [n for n in (image_names.clean_display_name(n) for n in task.get("names") or []) if n]
    return names[0] if names else image_names.name_from_url(task.get("url", ""))


def _by_client(items: "list[dict[str, Any]]") -> "dict[str, list[dict[str, Any]]]":
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item.get("client", ""), []).append(item)
    return grouped


def _task(
    task: dict[str, Any],
    peers: dict[str, Any],
    node_of: dict[str, Any],
    serves_to: dict[str, Any],
    flows_to: dict[str, Any],
) -> dict[str, Any]:
    total = max(int(task.get("piece_total") or 0), 0)
    cdn_done = min(int(task.get("cdn_pieces") or 0), total) if total else int(task.get("cdn_pieces") or 0)
    holders = [
        {
            "host": SUPERNODE,
            "label": "supernode (CDN)",
            "host_name": "",
            "client": "",
            "status": task.get("status", ""),
            "done": cdn_done,
            "running": 0,
            "exact": total <= MAX_BITMAP,
            "bitmap": "1" * min(cdn_done, MAX_BITMAP),
        }
    ]
    client_pids = set()
    for label, c in sorted((task.get("clients") or {}).items()):
        pid = c.get("peer", "")
        client_pids.add(pid)
        peer = peers.get(pid, {})
        bitmap = c.get("bitmap", "")
        exact = bool(bitmap) and len(bitmap) <= MAX_BITMAP
        holders.append(
            {
                "host": node_of.get(pid, host_key("")),
                "label": host_label(peer.get("ip", ""), peer.get("port", 0)),
                "host_name": cut(peer.get("host_name")),
                "client": cut(label),
                "status": c.get("status", ""),
                "done": int(c.get("pieces_done") or 0),
                "running": int(c.get("running") or 0),
                "exact": exact,
                "bitmap": bitmap if exact else "",
            }
        )
    clients = holders[1:]
    progress = (sum(min(h["done"], total) for h in clients) / (total * len(clients))) if clients and total else 0.0
    # a peer record belongs to one registration, so a client PID names this task's download
    own = [s for pid in client_pids for s in serves_to.get(pid, ())]
    live = [f for pid in client_pids for f in flows_to.get(pid, ())]
    return {
        "id": task.get("id", ""),
        "name": task_name(task),
        "names": [cut(n, image_names.DISPLAY_NAME_MAX) for n in (task.get("names") or [])][:4],
        "url": cut(task.get("url", ""), MAX_URL),
        "status": task.get("status", ""),
        "source_length": task.get("source_length", -1),
        "piece_total": total,
        "cdn_pieces": cdn_done,
        "holders": holders[: 1 + MAX_HOLDERS],
        "clients": len(clients),
        "progress": round(progress, 4),
        "done_clients": sum(1 for h in clients if h["status"] == "SUCCESS"),
        "edges": _edges(own, live, node_of)[:MAX_EDGES],
    }


def _hosts(peers: dict[str, Any], super_ids: set[str], history: dict[str, Any]) -> "list[dict[str, Any]]":
    grouped: dict[str, dict[str, Any]] = {}
    for pid, p in sorted(peers.items(), key=lambda kv: kv[1].get("created", 0)):
        if pid in super_ids:
            continue
        key = host_key(p.get("ip", ""))
        h = grouped.setdefault(
            key,
            {
                "key": key,
                "ip": p.get("ip", ""),
                "port": 0,
                "host_name": "",
                "ids": [],
                "peers": 0,
                "uploads": False,
                "up": False,
                "load": 0,
                "errors": 0,
            },
        )
        h["peers"] += 1
        if len(h["ids"]) < MAX_IDS:
            h["ids"].append(cut(pid, 128))
        if p.get("port"):
            h["port"] = p["port"]  # the newest registration's upload port
        h["host_name"] = cut(p.get("host_name")) or h["host_name"]
        h["uploads"] = h["uploads"] or bool(p.get("uploads"))
        h["up"] = h["up"] or not p.get("down")
        h["load"] += int(p.get("load") or 0)
        h["errors"] += int(p.get("client_errors") or 0) + int(p.get("service_errors") or 0)
    hosts = []
    for key, h in grouped.items():
        past = history.get(key, {})
        hosts.append(
            {
                **h,
                "label": host_label(h["ip"], h["port"] or past.get("port", 0)),
                "state": "up" if h["up"] else "down",
                "history": _history(past),
            }
        )
    gone = sorted(
        (past for key, past in history.items() if key not in grouped), key=lambda past: -past.get("last_seen", 0)
    )
    for past in gone:
        hosts.append(
            {
                "key": host_key(past.get("ip", "")),
                "ip": past.get("ip", ""),
                "port": past.get("port", 0),
                "host_name": cut(past.get("host_name")),
                "ids": [],
                "peers": 0,
                "uploads": False,
                "up": False,
                "load": 0,
                "errors": 0,
                "label": host_label(past.get("ip", ""), past.get("port", 0)),
                "state": "gone",
                "history": _history(past),
            }
        )
    return hosts


def _history(past: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "bytes_down",
        "bytes_up",
        "bytes_source",
        "pieces_down",
        "pieces_up",
        "tasks_fetched",
        "tasks_served",
        "first_seen",
        "last_seen",
    )
    return {k: past.get(k, 0) for k in keys}


def _edges(
    serves: "list[dict[str, Any]]", flows: "list[dict[str, Any]]", node_of: dict[str, Any]
) -> "list[dict[str, Any]]":
    """Who serves whom, per host pair: pieces served so far and pieces on their way now."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for items, field in ((serves, "pieces"), (flows, "running")):
        for s in items:
            src, dst = node_of.get(s.get("source", "")), node_of.get(s.get("client", ""))
            if src is None or dst is None or src == dst:
                continue
            e = merged.setdefault((src, dst), {"source": src, "client": dst, "pieces": 0, "running": 0})
            e[field] += int(s.get(field) or 0)
    return sorted(merged.values(), key=lambda e: (-e["running"], -e["pieces"], e["source"], e["client"]))
