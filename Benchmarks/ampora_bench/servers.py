"""Servers a run measures: `ampora serve` started by the harness, the C echo floor, or a server
someone else started (address + PID). Every address is checked to be on 127.0.0.0/8."""
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
LOADGEN = os.path.join(BENCH, "loadgen")


class BenchError(Exception):
    """A run that cannot start or cannot be trusted; the message says why and what to do."""


def check_loopback(hostport):
    host, _, port = hostport.rpartition(":")
    try:
        ok = ipaddress.IPv4Address(host) in ipaddress.IPv4Network("127.0.0.0/8")
    except ValueError:
        ok = False
    if not ok or not port.isdigit():
        raise BenchError("%s: every address must be an IPv4 address on 127.0.0.0/8 with a port" % hostport)
    return host, int(port)


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build_loadgen():
    """Builds opamp-load and echo-floor with make (a no-op when they are current)."""
    r = subprocess.run(["make", "-s", "-C", LOADGEN], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("building the C load generator failed (make -C %s):\n%s" % (LOADGEN, r.stderr[-2000:]))


def default_ampora_bin():
    for path in (os.path.join(REPO, ".build", "release", "ampora"), os.path.join(REPO, ".build", "debug", "ampora")):
        if os.access(path, os.X_OK):
            return path
    return os.path.join(REPO, ".build", "release", "ampora")


class Server:
    """A server process the harness owns (or only observes, when `owned` is False)."""

    kind = "external"

    def __init__(self, opamp, pid, http=None, owned=False):
        self.opamp = opamp          # "127.0.0.1:PORT"
        self.http = http            # operator plane "127.0.0.1:PORT" or None
        self.pid = pid
        self.owned = owned
        self.proc = None
        self.io = None
        self.command = None
        self.restarts = 0

    def describe(self):
        return {"kind": self.kind, "opamp": self.opamp, "http": self.http, "pid": self.pid,
                "io": self.io, "command": self.command, "restarts": self.restarts}

    def start(self):
        pass

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout` s; returns the seconds it took to exit."""
        if not self.owned or self.proc is None or self.proc.poll() is not None:
            return 0.0
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t

    def remove_workdir(self):
        """Deletes the scratch directory (database, logs) the harness made for this server."""
        path = getattr(self, "workdir", None)
        if self.owned and path and os.path.basename(path).startswith("ampora-bench-"):
            shutil.rmtree(path, ignore_errors=True)

    def restart(self):
        if not self.owned:
            raise BenchError("a storm restarts the server: let the harness start it (no --target/--server-pid)")
        self.stop()
        self.restarts += 1
        self.start()


def _wait_ready(proc, marker, timeout, log_path):
    """Reads stdout until a line starts with `marker`; returns that line. Later output is
    drained by a thread so the server never blocks on a full pipe."""
    deadline = time.monotonic() + timeout
    line_box = []

    def reader():
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line_box and line.startswith(marker):
                line_box.append(line)

    threading.Thread(target=reader, daemon=True).start()
    while time.monotonic() < deadline:
        if line_box:
            return line_box[0]
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    tail = ""
    try:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-1500:]
    except OSError:
        pass
    raise BenchError("server did not print %r within %.0f s (exit %s); its stderr:\n%s"
                     % (marker, timeout, proc.returncode, tail))


class AmporaServer(Server):
    """`ampora serve` on loopback with a throwaway SQLite database."""

    kind = "ampora"

    def __init__(self, binary, io="auto", loops=None, extra=(), workdir=None):
        # Port 0 at first start (the ready line names the real ports); a restart reuses them.
        super().__init__("127.0.0.1:0", None, "127.0.0.1:0", owned=True)
        if not os.access(binary, os.X_OK):
            raise BenchError("%s is not built: run `swift build -c release --product ampora` in %s "
                             "or pass --ampora-bin" % (binary, REPO))
        self.binary = binary
        self.io_flag = io
        self.loops = loops
        self.extra = list(extra)
        self.workdir = workdir or tempfile.mkdtemp(prefix="ampora-bench-")
        self.ready_line = None

    def start(self):
        # The server writes an admin token there on its first start; the operator API calls use it.
        token_file = os.path.join(self.workdir, "admin-token")
        cmd = [self.binary, "serve", "--opamp-listen", self.opamp, "--http-listen", self.http,
               "--database", "sqlite:%s" % os.path.join(self.workdir, "ampora.db"), "--io", self.io_flag,
               "--idle-timeout", "600", "--admin-token-file", token_file]
        if self.loops:
            cmd += ["--loops", str(self.loops)]
        cmd += self.extra
        self.command = " ".join(cmd)
        log = os.path.join(self.workdir, "server-%d.log" % self.restarts)
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.ready_line = _wait_ready(self.proc, "ampora ready", 60, log)
        fields = dict(f.split("=", 1) for f in self.ready_line.split()[2:] if "=" in f)
        self.io = fields.get("io")
        self.opamp = fields.get("opamp", self.opamp)
        self.http = fields.get("http", self.http)
        with open(token_file) as f:
            self.admin_token = f.read().strip()
        check_loopback(self.opamp)


class EchoFloor(Server):
    """The C io_uring echo server: the floor for CPU per message and memory per connection."""

    kind = "echo-floor"

    def __init__(self, rings=2, duration=900, workdir=None):
        super().__init__("127.0.0.1:%d" % free_port(), None, None, owned=True)
        self.rings = rings
        self.duration = duration
        self.workdir = workdir or tempfile.mkdtemp(prefix="ampora-bench-")
        self.io = "uring"

    def start(self):
        # A killed io_uring process releases its sockets asynchronously: right after a restart
        # the old listener may still hold the port (bind: EADDRINUSE) and even accept. Retry
        # for a few seconds, and only trust a port the new process is still alive behind.
        deadline = time.monotonic() + 15
        while True:
            if self._start_once():
                return
            if time.monotonic() > deadline:
                raise BenchError("echo-floor could not listen on %s (see %s)" % (self.opamp, self.log))
            time.sleep(0.2)

    def _start_once(self):
        port = self.opamp.rpartition(":")[2]
        cmd = [os.path.join(LOADGEN, "echo-floor"), "--port", port, "--rings", str(self.rings),
               "--duration", str(int(self.duration)), "--stats-interval", "3600"]
        self.command = " ".join(cmd)
        self.log = os.path.join(self.workdir, "floor-%d.log" % self.restarts)
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        # The floor prints nothing when ready: wait until its port accepts and it still runs.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", int(port)), timeout=0.5):
                    pass
                time.sleep(0.2)
                return self.proc.poll() is None
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        return False
