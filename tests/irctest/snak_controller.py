"""irctest controller for snak: starts the real snak binary once per test.

irctest (progval/irctest, run from its own checkout by tests/irctest/run.sh) imports this
module through `--controller snak_controller` and calls get_irctest_controller_class().

What snak can do is learned from the binary, never assumed:
- its `--help` text says which options exist (TLS, WebSocket, a data directory for accounts
  and history), so a test that needs one of them is skipped with NotImplementedByController
  until the option lands, and runs from the first build that has it;
- one `CAP LS 302` against a probe instance per session gives the capabilities irctest may
  hold snak to (a NAK of an advertised capability fails; of any other, skips) and the SASL
  mechanisms.

SNAK_BIN names the binary (default target/debug/snak, relative to the project root).
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, FrozenSet, List, Optional, Set, Type

from irctest import patma
from irctest.basecontrollers import (
    BaseServerController,
    DirectoryBasedController,
    ProcessStopped,
)
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVER_NAME = "My.Little.Server"
OPER = "operuser:operpassword"
MOTD = "snak under irctest.\n"
# How long snak may take from exec to its `ready` line (a debug build on a loaded machine).
READY_TIMEOUT = 30.0
PROBE_TIMEOUT = 10.0

# The ISUPPORT tokens and values snak is held to (irctest's isupport.py testValues): what
# issue 12 asks for, with the values snak advertises, so that a token lost or changed fails
# rather than skips the tests that depend on it.
EXPECTED_ISUPPORT: Dict[str, object] = {
    "BOT": "B",
    "CASEMAPPING": "rfc8265",
    "CHANMODES": "beI,k,l,Cimnst",
    "ELIST": "MNU",
    "EXCEPTS": "e",
    "INVEX": "I",
    "MONITOR": "100",
    "PREFIX": "(ov)@+",
    "STATUSMSG": "@+",
    "UTF8ONLY": None,
    "WHOX": None,
}


# Tests of what snak deliberately is not, by test id (as PYTEST_CURRENT_TEST names them): each
# is skipped with its reason rather than failed. Everything else runs.
NOT_APPLICABLE: Dict[str, str] = {
    "links.py::ServicesLinksTestCase::": (
        "NickServ and ChanServ are built into snak (as into Ergo), not a linked server"
    ),
    "read_marker.py::ReadMarkerServiceTestCase::testReadMarkerPersistsAcrossReconnect": (
        "always-on clients (rejoined on reconnect) are a bouncer's feature; snak has none"
    ),
    "read_marker.py::ReadMarkerServiceTestCase::testReadMarkerPropagatedToOtherSessions": (
        "one nick on several connections at once (multiclient) is not offered"
    ),
}


def not_applicable() -> Optional[str]:
    """Why the running test does not apply to snak, if it does not."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    for test, reason in NOT_APPLICABLE.items():
        if test in current:
            return reason
    return None


def snak_binary() -> str:
    path = Path(os.environ.get("SNAK_BIN", "target/debug/snak"))
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return str(path)


class Features:
    """What one snak binary offers: options from --help, capabilities from CAP LS."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        out = subprocess.run(
            [binary, "--help"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        self.options: Set[str] = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", out))
        self.tls = {"--tls-cert", "--tls-key", "--irc-tls-listen"} <= self.options
        self.websocket = "--web-listen" in self.options
        self.web_tls = self.tls and "--web-tls-listen" in self.options
        self.data_dir = "--data-dir" in self.options
        self.caps: Optional[Dict[str, Optional[str]]] = None  # None: not probed yet

    def has(self, option: str) -> bool:
        return option in self.options


_features: Dict[str, Features] = {}


def features() -> Features:
    binary = snak_binary()
    if binary not in _features:
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"snak binary not found at {binary} (run cargo build)")
        _features[binary] = Features(binary)
    return _features[binary]


# Every snak this process started and has not stopped, with the directory it runs in. irctest
# skips some tests from setUp after the server started (bot_mode.py), and unittest then calls
# no tearDown: such a snak is stopped when the next test starts, or at exit.
_live: List["SnakProcess"] = []


def stop_leftovers() -> None:
    for proc in list(_live):
        proc.stop()
        if proc.owned_dir is not None:
            shutil.rmtree(proc.owned_dir, ignore_errors=True)


atexit.register(stop_leftovers)
# A run stopped by SIGTERM (run.sh's timeout) still stops its snaks: exit through atexit.
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class SnakProcess:
    """A running snak: its stdout is read until `ready`, then drained; stderr goes to a log."""

    def __init__(
        self, args: List[str], log_path: Path, echo: bool, owned_dir: Optional[Path] = None
    ) -> None:
        self.owned_dir = owned_dir
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "debug" if echo else "warn")
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.listening: Dict[str, str] = {}
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            start_new_session=True,
        )
        self._echo = echo
        _live.append(self)
        threading.Thread(target=self._read_stdout, name="snak-stdout", daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self._echo:
                print(f"{time.time():.3f} snak stdout: {line}")
            words = line.split()
            if len(words) == 3 and words[0] == "listening":
                self.listening[words[1]] = words[2]
            elif line == "ready":
                self.ready.set()

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                raise ProcessStopped(
                    f"snak exited with {self.proc.returncode} before `ready`:\n"
                    + self.stderr_tail()
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"snak printed no `ready` within {timeout} s")

    def stop(self) -> None:
        if self in _live:
            _live.remove(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def probe_caps(binary_features: Features, workdir: Path) -> Dict[str, Optional[str]]:
    """One CAP LS 302 against a throwaway snak with every feature the binary has on."""
    args = base_args(binary_features, workdir, data_dir=binary_features.data_dir)
    args += ["--irc-listen", "127.0.0.1:0"]
    proc = SnakProcess(args, workdir / "probe.log", echo=False)
    try:
        proc.wait_ready()
        host, _, port = proc.listening["irc"].rpartition(":")
        caps: Dict[str, Optional[str]] = {}
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(b"CAP LS 302\r\n")
            buf = b""
            deadline = time.monotonic() + PROBE_TIMEOUT
            done = False
            while not done:
                if time.monotonic() > deadline:
                    raise TimeoutError("no complete CAP LS reply from snak")
                ready, _, _ = select.select([sock], [], [], 0.5)
                if not ready:
                    continue
                chunk = sock.recv(4096)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    words = line.decode("utf-8", "replace").rstrip("\r").split(" ")
                    if words and words[0].startswith(":"):
                        words = words[1:]
                    if len(words) < 4 or words[0] != "CAP" or words[2] != "LS":
                        continue
                    more = words[3] == "*"
                    rest = " ".join(words[4:] if more else words[3:])
                    for item in rest.lstrip(":").split():
                        name, eq, value = item.partition("=")
                        caps[name] = value if eq else None
                    if not more:
                        done = True
                        break
            sock.sendall(b"QUIT\r\n")
        return caps
    finally:
        proc.stop()


def accounts_over_irc(f: Features) -> bool:
    """Whether IRC clients reach accounts: a data directory, and SASL in CAP LS (NickServ
    and SASL come together with the accounts' IRC side)."""
    return f.data_dir and f.caps is not None and "sasl" in f.caps


def base_args(f: Features, workdir: Path, data_dir: bool) -> List[str]:
    """The options every snak under irctest gets (listeners are added by the caller)."""
    motd = workdir / "motd.txt"
    if not motd.exists():
        motd.write_text(MOTD)
    args = [
        f.binary,
        "--listen",
        "127.0.0.1:0",
        "--server-name",
        SERVER_NAME,
        # What irctest's other controllers configure as the server's description (LINKS).
        "--server-info",
        "test server",
        "--oper",
        OPER,
        "--no-flood-limit",
        "--motd",
        str(motd),
    ]
    if f.data_dir:
        if data_dir:
            path = workdir / "data"
            path.mkdir(exist_ok=True)
            args += ["--data-dir", str(path)]
        else:
            args += ["--data-dir", "none"]
    # A listener that defaults to a fixed port would collide between tests run in parallel.
    if f.websocket:
        args += ["--no-web"] if f.has("--no-web") else ["--web-listen", "127.0.0.1:0"]
    return args


class SnakController(BaseServerController, DirectoryBasedController):
    software_name = "snak"
    supported_sasl_mechanisms: Set[str] = set()
    supports_sts = False
    nickserv = "NickServ"
    _port_wait_interval = 0.01
    isupport = EXPECTED_ISUPPORT

    snak: Optional[SnakProcess] = None

    def _learn_features(self) -> Features:
        f = features()
        if f.caps is None:
            probe_dir = Path(tempfile.mkdtemp(prefix="snak-irctest-probe-"))
            try:
                f.caps = probe_caps(f, probe_dir)
            finally:
                shutil.rmtree(probe_dir, ignore_errors=True)
        known = {c.value for c in Capabilities}
        self.capabilities: FrozenSet[Capabilities] = frozenset(
            Capabilities(name) for name in f.caps if name in known
        )
        if "sasl" in f.caps:
            mechs = f.caps["sasl"]
            self.supported_sasl_mechanisms = set(mechs.split(",")) if mechs else {"PLAIN"}
        self.supports_sts = "sts" in f.caps
        return f

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        assert self.proc is None
        stop_leftovers()
        reason = not_applicable()
        if reason:
            raise NotImplementedByController(reason)
        f = self._learn_features()
        if ssl and not f.tls:
            raise NotImplementedByController("TLS (snak has no --irc-tls-listen yet)")
        if websocket_port is not None and not f.websocket:
            raise NotImplementedByController("WebSocket (snak has no --web-listen yet)")
        if websocket_port is not None and ssl and not f.web_tls:
            raise NotImplementedByController("WebSocket over TLS (no --web-tls-listen)")
        cfg = self.test_config
        wants_store = (
            run_services
            or cfg.chathistory
            or cfg.account_registration_before_connect
            or cfg.account_registration_requires_email
        )
        if wants_store and not f.data_dir:
            raise NotImplementedByController(
                "accounts and history (snak has no --data-dir yet)"
            )
        if wants_store and not accounts_over_irc(f):
            raise NotImplementedByController(
                "accounts and history (snak's IRC front offers no sasl yet)"
            )
        if cfg.account_registration_requires_email:
            raise NotImplementedByController("account registration with e-mail")

        self.create_config()
        assert self.directory
        # irctest hands out 0.0.0.0 (its port finder binds ""); snak listens on loopback only,
        # which is where a connection to 0.0.0.0 goes on Linux.
        self.hostname = "127.0.0.1"
        self.port = port
        args = base_args(f, self.directory, data_dir=wants_store)
        if ssl:
            self.gen_ssl()
            args += ["--tls-cert", str(self.pem_path), "--tls-key", str(self.key_path)]
            args += ["--irc-listen", "127.0.0.1:0", "--irc-tls-listen", f"127.0.0.1:{port}"]
        else:
            args += ["--irc-listen", f"127.0.0.1:{port}"]
        if websocket_port is not None:
            web = "--web-tls-listen" if ssl else "--web-listen"
            if "--no-web" in args:
                args.remove("--no-web")
            elif "--web-listen" in args:
                i = args.index("--web-listen")
                del args[i : i + 2]
            args += [web, f"127.0.0.1:{websocket_port}"]
        if password is not None:
            args += ["--password", password]
        # draft/account-registration's before-connect is snak's default; the tests that want
        # it off say so through this setting (irctest's default is off).
        if wants_store and not cfg.account_registration_before_connect:
            if f.has("--no-early-register"):
                args += ["--no-early-register"]

        if faketime and shutil.which("faketime"):
            args = ["faketime", "-f", faketime] + args
            self.faketime_enabled = True

        if self.debug_mode:
            print(f"{time.time():.3f} starting: {' '.join(args)}")
        self.snak = SnakProcess(
            args, self.directory / "snak.log", echo=self.debug_mode, owned_dir=self.directory
        )
        self.proc = self.snak.proc

    def wait_for_port(self) -> None:
        """Ready means snak printed `ready`: every listener is bound by then."""
        if self.port_open:
            return
        assert self.snak is not None
        self.snak.wait_ready()
        self.port_open = True

    def wait_for_services(self) -> None:
        # NickServ-style services are part of snak itself: up when snak is.
        self.wait_for_port()

    def kill_proc(self) -> None:
        assert self.snak is not None
        self.snak.stop()
        self.snak = None
        self.proc = None

    def registerUser(self, case, username: str, password: Optional[str] = None) -> None:
        if not features().data_dir:
            raise NotImplementedByController("account registration (no --data-dir yet)")
        if not accounts_over_irc(features()):
            raise NotImplementedByController("account registration (no sasl over IRC yet)")
        assert password
        # A password too long for an IRC line (irctest's 592-byte one) is registered over
        # the native protocol, whose lines are longer: the account is the same for both.
        if len(f"PRIVMSG {self.nickserv} :REGISTER {password}\r\n".encode()) > 512:
            return self._register_natively(username, password)
        client = case.addClient(show_io=False)
        case.sendLine(client, "NICK " + username)
        case.sendLine(client, "USER r e g :user")
        while case.getRegistrationMessage(client).command != "001":
            pass
        case.getMessages(client)
        case.sendLine(client, f"PRIVMSG {self.nickserv} :REGISTER {password}")
        # The store answers off the event loop: wait for the reply, bounded.
        deadline = time.monotonic() + 10
        replies: list = []
        while time.monotonic() < deadline:
            replies += case.getMessages(client)
            if any(m.command in ("NOTICE", "900") for m in replies):
                break
        commands = {m.command for m in replies}
        assert commands & {"NOTICE", "900"}, f"NickServ REGISTER got no reply: {replies}"
        assert not any(
            m.command == "FAIL" or m.command.startswith(("4", "5")) for m in replies
        ), f"NickServ REGISTER failed: {replies}"
        case.sendLine(client, "QUIT")
        case.assertDisconnected(client)


    def _register_natively(self, username: str, password: str) -> None:
        assert self.snak is not None
        self.wait_for_port()
        host, _, port = self.snak.listening["native"].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            reader = sock.makefile("r", encoding="utf-8", newline="\n")
            reader.readline()  # the greeting
            sock.sendall(f"/part #lobby\n/nick {username}\n/register {password}\n".encode())
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                line = reader.readline().rstrip("\n")
                if line == f"= registered {username}":
                    break
                assert not line.startswith("!"), f"native /register failed: {line}"
            else:
                raise AssertionError("native /register got no reply")
            sock.sendall(b"/quit\n")


def get_irctest_controller_class() -> Type[SnakController]:
    return SnakController


if __name__ == "__main__":
    # `python3 tests/irctest/snak_controller.py`: show what the controller learns of snak.
    feats = features()
    tmp = Path(tempfile.mkdtemp(prefix="snak-irctest-probe-"))
    try:
        feats.caps = probe_caps(feats, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("binary:", feats.binary)
    print("tls:", feats.tls, "websocket:", feats.websocket, "data-dir:", feats.data_dir)
    print("caps:", " ".join(f"{k}={v}" if v else k for k, v in sorted(feats.caps.items())))
    sys.exit(0)
