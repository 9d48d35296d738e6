"""When each host got each piece, and from whom: a table read from a kept lab run's logs.

    python -m tests.bench.lab.piece_timeline /tmp/dflab-crowd-XXXX/flash-16M-N8-dfget-0

Rows are pieces, columns peers; a cell is seconds after the CDN started and the source's last
address octet ("S" = the supernode). Needs a run made with `--keep`.
"""

import datetime
import glob
import json
import os
import pathlib
import re
import sys

PIECE_LINE = re.compile(r"downloading piece:(\{.*\})")


def _seconds(line: str) -> float:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def _source(cid: str) -> str:
    return "S" if cid.startswith("cdnnode") else cid.split("-")[0].split(".")[-1]


def timeline(run_dir: str) -> str:
    t0 = min(
        _seconds(line)
        for line in pathlib.Path(run_dir, "sn-home/logs/app.log").read_text().splitlines()
        if "cdn start" in line
    )
    logs = sorted(
        glob.glob(os.path.join(run_dir, "peer*/logs/dfclient.log")),
        key=lambda p: int(re.search(r"peer(\d+)", p).group(1)),
    )
    got = {}
    for i, path in enumerate(logs):
        for line in pathlib.Path(path).read_text().splitlines():
            m = PIECE_LINE.search(line)
            if m:
                piece = json.loads(m.group(1))
                got[(piece["pieceNum"], i)] = (_seconds(line) - t0, _source(piece["dstCid"]))
    rows = ["piece " + " ".join(f"p{i:<6}" for i in range(len(logs)))]
    for piece in sorted({k[0] for k in got}):
        cells = [
            f"{got[(piece, i)][0]:5.1f}{got[(piece, i)][1][:2]:>2}" if (piece, i) in got else "   -   "
            for i in range(len(logs))
        ]
        rows.append(f"{piece:5d} " + " ".join(cells))
    return "\n".join(rows)


if __name__ == "__main__":
    print(timeline(sys.argv[1]))
