"""A lab of hosts on one machine: each host is a network namespace with one veth port on a bridge
that lives in its own namespace, shaped both ways (tbf on eth0 egress = upload; an ifb device fed by
an ingress mirred redirect = download). See /work/shared/lab/NOTES.md.

Safety (non-negotiable):
- Before any namespace exists, the lab subnet is blackholed in the root namespace
  (`ip route replace blackhole 10.99.K.0/24`) and `ip route get` must then fail; otherwise we refuse.
- Every lab process runs inside a namespace (`nsenter --net=/run/netns/HOST`); nothing is sent to a
  lab address from the root namespace.
- Teardown ends every process by PID (the ones we started, then whatever `ip netns pids` still lists
  inside *our* namespaces, e.g. dfget's detached upload servers), deletes every namespace, and only
  then removes the blackhole. It runs from `finally`, from atexit and from SIGTERM/SIGINT/SIGHUP.
"""

import atexit
import os
import re
import signal
import subprocess
import time

NS_DIR = "/run/netns"
PREFIX = "dfl"  # namespace names: dfl<creator pid>-<host>


class LabError(RuntimeError):
    pass


def _run(argv, check=True, timeout=20.0) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, text=True)
    if check and r.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def available() -> "tuple[bool, str]":
    """Can a lab be built here? (root, `ip netns`, veth/bridge/ifb/tbf present)"""
    if os.geteuid() != 0:
        return False, "the lab needs root (network namespaces, tc)"
    for tool in ("ip", "tc", "nsenter"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            return False, f"`{tool}` is not installed"
    try:
        _run(["ip", "netns", "list"])
    except (LabError, OSError, subprocess.TimeoutExpired) as e:
        return False, f"`ip netns` is not usable: {e}"
    return True, ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _ns_pids(ns: str) -> "list[int]":
    r = _run(["ip", "netns", "pids", ns], check=False, timeout=10)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def _kill_ns_processes(ns: str, grace: float = 3.0) -> "list[int]":
    """End every process inside namespace `ns`, each by its PID: SIGTERM, then SIGKILL."""
    killed = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for p in _ns_pids(ns) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
                killed.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_pid_alive(p) and not _zombie(p) for p in pids):
            time.sleep(0.05)
    return killed


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def reap_stale_labs() -> "list[str]":
    """Delete namespaces left by a lab whose creator process is gone (a run killed with -9)."""
    gone = []
    if not os.path.isdir(NS_DIR):
        return gone
    for name in os.listdir(NS_DIR):
        m = re.match(rf"^{PREFIX}(\d+)-", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        _kill_ns_processes(name)
        _run(["ip", "netns", "del", name], check=False)
        gone.append(name)
    return gone


def _free_octet() -> int:
    """A third octet K such that 10.99.K.0/24 is not routed yet (another lab may be running)."""
    used = _run(["ip", "-4", "route", "show", "table", "all"]).stdout
    for k in range(1, 250):
        if f"10.99.{k}.0/24" not in used:
            return k
    raise LabError("no free 10.99.K.0/24 subnet for the lab")


class Host:
    def __init__(self, lab, name, ns, ip, up_mbit, down_mbit):
        self.lab, self.name, self.ns, self.ip = lab, name, ns, ip
        self.up_mbit, self.down_mbit = up_mbit, down_mbit

    def argv(self, argv):
        return ["nsenter", f"--net={NS_DIR}/{self.ns}", "--", *argv]

    def run(self, argv, timeout=30.0, check=True) -> subprocess.CompletedProcess:
        return _run(self.argv(argv), check=check, timeout=timeout)

    def popen(self, argv, log_path, env=None, cwd=None) -> "LabProc":
        return self.lab.popen(self, argv, log_path, env=env, cwd=cwd)


class LabProc:
    """A process inside a host namespace, ended by PID; CPU/RSS kept from wait4 or /proc."""

    def __init__(self, host, argv, log_path, env=None, cwd=None):
        self.host, self.argv_, self.log_path = host, argv, log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - the process writes it until stop() closes it
        self.started = time.time()
        self.popen = subprocess.Popen(
            host.argv(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid  # nsenter execs the program: this is its PID
        self.ended = None
        self.rusage = None

    def poll(self):
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            return self.popen.poll()
        if pid == 0:
            return None
        self.ended = time.time()
        self.rusage = ru
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()
        return self.popen.returncode

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll() is not None:
                return self.popen.returncode
            time.sleep(0.02)
        raise subprocess.TimeoutExpired(self.argv_, timeout)

    def cpu_seconds(self) -> float:
        if self.rusage is not None:
            return self.rusage.ru_utime + self.rusage.ru_stime
        return proc_cpu(self.pid)

    def peak_rss(self) -> int:
        if self.rusage is not None:
            return self.rusage.ru_maxrss * 1024
        return proc_hwm(self.pid)

    def stop(self, grace=5.0):
        if self.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.pid, sig)  # its session: gunicorn workers go too
                except ProcessLookupError:
                    pass
                try:
                    self.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if not self._log.closed:
            self._log.close()

    def output(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


def proc_cpu(pid: int) -> float:
    """utime + stime (+ waited-for children) of a live process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            x = f.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in x[11:15]) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def proc_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def proc_cmd(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except FileNotFoundError:
        return ""


class Lab:
    """Context manager. `with Lab() as lab: h = lab.add_host("origin", 20, 20) ...`"""

    def __init__(self, tag="lab"):
        self.tag = tag
        self.pfx = f"{PREFIX}{os.getpid()}-"
        self.sw = self.pfx + "sw"
        self.hosts: dict[str, Host] = {}
        self.procs: list[LabProc] = []
        self.namespaces: list[str] = []
        self.octet = None
        self.subnet = None
        self._blackhole = False
        self._torn = False
        self._old_handlers = {}

    # ---- lifecycle ----
    def __enter__(self):
        atexit.register(self.teardown)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def _on_signal(self, signum, frame):
        self.teardown()
        raise SystemExit(128 + signum)

    def _setup(self):
        ok, why = available()
        if not ok:
            raise LabError(why)
        reap_stale_labs()
        self.octet = _free_octet()
        self.subnet = f"10.99.{self.octet}.0/24"
        # 1. blackhole the lab subnet in the root namespace, and prove it
        _run(["ip", "route", "replace", "blackhole", self.subnet])
        self._blackhole = True
        probe = _run(["ip", "route", "get", f"10.99.{self.octet}.1"], check=False)
        if probe.returncode == 0:
            raise LabError(
                f"refusing to run: `ip route get 10.99.{self.octet}.1` succeeds in the root "
                f"namespace ({probe.stdout.strip()}); lab traffic could leave the machine"
            )
        # 2. the switch: a bridge in its own namespace
        self._add_ns(self.sw)
        _run(["ip", "-n", self.sw, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", self.sw, "link", "set", "br0", "up"])

    def _add_ns(self, ns):
        _run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_host(self, name: str, last_octet: int, up_mbit: "float | None", down_mbit: "float | None") -> Host:
        ns = self.pfx + name
        ip = f"10.99.{self.octet}.{last_octet}"
        self._add_ns(ns)
        port = f"p{last_octet}"
        _run(["ip", "-n", self.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
        _run(["ip", "-n", self.sw, "link", "set", port, "master", "br0", "up"])
        _run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        host = Host(self, name, ns, ip, up_mbit, down_mbit)
        self.shape(host, up_mbit, down_mbit)
        self.hosts[name] = host
        return host

    @staticmethod
    def _tbf(mbit):
        burst = "64kb" if mbit <= 100 else "256kb"
        return ["tbf", "rate", f"{mbit}mbit", "burst", burst, "latency", "100ms"]

    def shape(self, host: Host, up_mbit, down_mbit):
        ns = host.ns
        if up_mbit:
            _run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", *self._tbf(up_mbit)])
        if down_mbit:
            _run(["ip", "-n", ns, "link", "add", "ifb0", "type", "ifb"])
            _run(["ip", "-n", ns, "link", "set", "ifb0", "up"])
            _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "handle", "ffff:", "ingress"])
            _run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "tc",
                    "filter",
                    "add",
                    "dev",
                    "eth0",
                    "parent",
                    "ffff:",
                    "protocol",
                    "all",
                    "u32",
                    "match",
                    "u32",
                    "0",
                    "0",
                    "action",
                    "mirred",
                    "egress",
                    "redirect",
                    "dev",
                    "ifb0",
                ]
            )
            _run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "ifb0", "root", *self._tbf(down_mbit)])

    def popen(self, host: Host, argv, log_path, env=None, cwd=None) -> LabProc:
        p = LabProc(host, argv, log_path, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    # ---- readings ----
    def port_counters(self) -> "dict[str, dict]":
        """Bytes each host sent/received, read on its bridge port (rx on the port = host's tx)."""
        import json

        r = _run(["ip", "-n", self.sw, "-j", "-s", "link", "show"], check=False)
        by_port = {}
        try:
            for link in json.loads(r.stdout or "[]"):
                st = link.get("stats64") or link.get("stats") or {}
                by_port[link.get("ifname", "").split("@")[0]] = st
        except ValueError:
            return {}
        out = {}
        for name, h in self.hosts.items():
            st = by_port.get(f"p{h.ip.rsplit('.', 1)[1]}")
            if st:
                out[name] = {"sent": int(st["rx"]["bytes"]), "received": int(st["tx"]["bytes"])}
        return out

    def ns_processes(self) -> "dict[str, list[dict]]":
        """CPU seconds and peak RSS of every live process in each host namespace."""
        out = {}
        for name, h in self.hosts.items():
            out[name] = [
                {"pid": p, "cmd": proc_cmd(p)[:120], "cpu_s": round(proc_cpu(p), 3), "peak_rss": proc_hwm(p)}
                for p in _ns_pids(h.ns)
            ]
        return out

    def stop_host_processes(self, host: Host):
        for p in self.procs:
            if p.host is host:
                p.stop()
        _kill_ns_processes(host.ns)

    # ---- teardown: always ----
    def teardown(self):
        if self._torn:
            return
        self._torn = True
        errors = []
        for p in reversed(self.procs):
            try:
                p.stop(grace=3.0)
            except Exception as e:  # noqa: BLE001 - keep tearing down
                errors.append(repr(e))
        for ns in reversed(self.namespaces):
            try:
                _kill_ns_processes(ns)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        for ns in reversed(self.namespaces):
            r = _run(["ip", "netns", "del", ns], check=False)
            if r.returncode != 0 and os.path.exists(f"{NS_DIR}/{ns}"):
                errors.append(f"netns del {ns}: {r.stderr.strip()}")
        left = [ns for ns in self.namespaces if os.path.exists(f"{NS_DIR}/{ns}")]
        if self._blackhole and not left:
            _run(["ip", "route", "del", "blackhole", self.subnet], check=False)
            self._blackhole = False
        for sig, old in self._old_handlers.items():
            try:
                signal.signal(sig, old)
            except (ValueError, TypeError):
                pass
        try:
            atexit.unregister(self.teardown)
        except Exception:  # noqa: BLE001
            pass
        if errors or left:
            raise LabError(f"teardown problems: {errors}; namespaces left: {left}")
