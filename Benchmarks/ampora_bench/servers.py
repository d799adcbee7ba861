"""Servers a run measures: `ampora serve` started by the harness, the C echo floor, or a server
someone else started (address + PID). Every address is checked to be on 127.0.0.0/8."""
import glob
import ipaddress
import os
import re
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
        self.apply_timeout = None   # --config-apply-timeout (s) the harness gave it; None: its own

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

    def __init__(self, binary, io="auto", loops=None, extra=(), workdir=None, database=None):
        # Port 0 at first start (the ready line names the real ports); a restart reuses them.
        super().__init__("127.0.0.1:0", None, "127.0.0.1:0", owned=True)
        # None: a throwaway SQLite file in the scratch directory; else any `--database` URL
        # (the chaos scenarios: PostgreSQL, or SQLite on a small tmpfs).
        self.database = database
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
               "--database", self.database or "sqlite:%s" % os.path.join(self.workdir, "ampora.db"), "--io", self.io_flag,
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

    def kill9(self):
        """SIGKILL, no shutdown at all (the kill9 scenario); returns when the process is reaped."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_text(self):
        """Every log this server wrote in its scratch directory (one file per start)."""
        out = []
        for i in range(self.restarts + 1):
            try:
                with open(os.path.join(self.workdir, "server-%d.log" % i), errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return "\n".join(out)


PG_PORTS = range(54340, 54350)   # the ports this machine's users agreed on for throwaway clusters


class ThrowawayPostgres:
    """A PostgreSQL cluster of scripts/pg.sh on 127.0.0.1 (runs as the `postgres` user when we are
    root); `kill()` stops it with `pg_ctl -m immediate` (no shutdown checkpoint: what a crash
    leaves), `resume()` starts it again on the same data. pg.sh runs it with fsync=off: an
    immediate stop loses nothing the kernel already had, but a machine crash would."""

    def __init__(self, port=None):
        self.port = port or self._free_port()
        self.dir = tempfile.mkdtemp(prefix="ampora-bench-pg-")
        self.url = None
        self.script = os.path.join(REPO, "scripts", "pg.sh")
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
        if not self.bin:
            raise BenchError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = self.bin[-1]

    @staticmethod
    def _free_port():
        for port in PG_PORTS:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
        raise BenchError("no free port in 54340-54349 for a throwaway PostgreSQL")

    def _run(self, *args):
        r = subprocess.run([self.script, *args], capture_output=True, text=True, timeout=90)
        if r.returncode != 0:
            raise BenchError("pg.sh %s failed: %s" % (" ".join(args), (r.stderr or r.stdout)[-800:]))
        return r.stdout.strip()

    def start(self):
        self.url = self._run("start", self.dir, str(self.port)).splitlines()[-1]
        check_loopback(self.url.rsplit("@", 1)[1].split("/", 1)[0])
        return self.url

    def kill(self):
        cmd = [os.path.join(self.bin, "pg_ctl"), "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "stop"]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise BenchError("pg_ctl stop -m immediate failed: %s" % r.stderr[-500:])

    def resume(self):
        self._run("resume", self.dir, str(self.port))

    def psql(self, query):
        r = subprocess.run(["psql", self.url, "-Atc", query], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise BenchError("psql %r failed: %s" % (query, r.stderr[-500:]))
        return r.stdout.strip()

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], capture_output=True, timeout=90)
        shutil.rmtree(self.dir, ignore_errors=True)


class SmallTmpfs:
    """A tmpfs of `size_mb` MB mounted on a fresh directory (the diskfull scenario: a database
    that can fill its filesystem without touching the machine's disk). Needs root; `umount`
    always runs in `close()`, lazily if a process still holds a file there."""

    def __init__(self, size_mb):
        self.size_mb = size_mb
        self.path = tempfile.mkdtemp(prefix="ampora-bench-tmpfs-")
        self.mounted = False

    def mount(self):
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % self.size_mb, "tmpfs", self.path],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            os.rmdir(self.path)
            raise BenchError("mount -t tmpfs failed (diskfull needs root and CAP_SYS_ADMIN): %s" % r.stderr.strip())
        self.mounted = True

    def close(self):
        if self.mounted:
            r = subprocess.run(["umount", self.path], capture_output=True, timeout=30)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.path], capture_output=True, timeout=30)
            self.mounted = False
        shutil.rmtree(self.path, ignore_errors=True)


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
