"""The JSON behind the console: service.snapshot() plus per-task details the page draws.

Piece maps: the CDN builds a file in order, so its map is exact (the first `cdn_pieces` pieces).
A client's map uses a per-piece `bitmap` ("1" done, "0" not) when the snapshot carries one, else
its count (`pieces_done`) with `exact: false` — the page then draws a bar, not a map.
"""


def console_snapshot(snapshot: dict, preheats: "list[dict]", now: float) -> dict:
    peers = {p["id"]: p for p in snapshot.get("peers", [])}
    serves = snapshot.get("serves", [])
    tasks = []
    for task in snapshot.get("tasks", []):
        total = max(int(task.get("piece_total") or 0), 0)
        holders = [{"name": "supernode (CDN)", "peer": "", "status": task.get("status", ""),
                    "done": int(task.get("cdn_pieces") or 0), "running": 0, "exact": True,
                    "bitmap": "1" * min(int(task.get("cdn_pieces") or 0), total)}]
        client_pids = set()
        for cid, c in sorted((task.get("clients") or {}).items()):
            client_pids.add(c.get("peer", ""))
            bitmap = c.get("bitmap", "")
            holders.append({"name": cid, "peer": c.get("peer", ""), "status": c.get("status", ""),
                            "done": int(c.get("pieces_done") or 0), "running": int(c.get("running") or 0),
                            "exact": bool(bitmap), "bitmap": bitmap,
                            "ip": peers.get(c.get("peer", ""), {}).get("ip", "")})
        edges = [e for e in serves if e.get("client") in client_pids]
        tasks.append({**task, "holders": holders, "serves": edges,
                      "done_clients": sum(1 for h in holders[1:] if h["status"] == "SUCCESS")})
    return {"now": now, "tasks": tasks, "peers": snapshot.get("peers", []), "serves": serves,
            "preheats": preheats}
