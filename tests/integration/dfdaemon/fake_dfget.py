"""A stand-in for dfget, driven by a JSON control file (path in $FAKE_DFGET_CONTROL).

It records its argv, prints `sign:<sign>` like dfget, and writes the layer (read from
<blobs>/<hex digest>) into <home>/data/<output name>-<sign>.service the way dfget does: 1 MiB
pieces, out of order (piece 0, then piece 2, ...), optionally stopping after `head` pieces until
the `release` file exists. Modes: ok, fail (exit 80 at once), fail_mid (exit 1 after `head`
pieces and the release), backsource (sequential writes into <repo>/backsource.<sign>.*), corrupt (one byte flipped).
"""

import json
import os
import sys
import time

PIECE = 1024 * 1024


def arg(argv, *names, many=False):
    out = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in names]
    return out if many else (out[0] if out else "")


def main(argv):
    if argv == ["version"]:
        print("dfget version  1.0.6")
        return 0
    with open(os.environ["FAKE_DFGET_CONTROL"]) as f:
        control = json.load(f)
    with open(control["calls"], "a") as f:
        f.write(json.dumps(argv) + "\n")
    sign = f"{os.getpid()}-{time.time():.3f}"
    print(f"dfget version:1.0.6\nworkspace:{arg(argv, '--home')}\nsign:{sign}", flush=True)
    mode = control.get("mode", "ok")
    if mode == "fail":
        print("download FAIL(1104)", flush=True)
        return 80
    url, output, home = arg(argv, "-u"), arg(argv, "-o"), arg(argv, "--home")
    digest = url.rsplit("sha256:", 1)[1][:64]
    with open(os.path.join(control["blobs"], digest), "rb") as f:
        data = bytearray(f.read())
    if mode == "corrupt":
        data[len(data) // 2] ^= 0xFF
    if mode == "backsource":
        path = os.path.join(os.path.dirname(output), f"backsource.{sign}.x1")
        order = list(range(0, (len(data) + PIECE - 1) // PIECE))
    else:
        os.makedirs(os.path.join(home, "data"), exist_ok=True)
        path = os.path.join(home, "data", f"{os.path.basename(output)}-{sign}.service")
        n = (len(data) + PIECE - 1) // PIECE
        order = [0] + list(range(2, n))[:1] + [1] + list(range(3, n)) if n > 2 else list(range(n))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    head = control.get("head", 0)
    for i, piece in enumerate(order):
        if head and i == head:
            deadline = time.monotonic() + 30
            while not os.path.exists(control["release"]) and time.monotonic() < deadline:
                time.sleep(0.02)
            if mode == "fail_mid":
                return 1
        os.pwrite(fd, bytes(data[piece * PIECE : (piece + 1) * PIECE]), piece * PIECE)
        time.sleep(control.get("delay", 0))
    os.close(fd)
    if mode == "backsource":
        os.replace(path, output)
    else:
        os.link(path, output)
    print(f"download SUCCESS cost:0.1s length:{len(data)} reason:0", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
