"""irctest controller for snak: starts the real binary with ordinary options.

Used by `make irctest` (see tests/irctest/run.sh); irctest imports this module by name and
calls get_irctest_controller_class().
"""

import os
import subprocess

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.basecontrollers import NotImplementedByController


class SnakController(BaseServerController, DirectoryBasedController):
    software_name = "snak"
    supported_sasl_mechanisms = set()

    def run(self, hostname, port, password=None, ssl=False,
            restricted_metadata_keys=None,
            valid_metadata_keys=None, invalid_metadata_keys=None):
        if ssl:
            raise NotImplementedByController("TLS")
        if valid_metadata_keys or invalid_metadata_keys:
            raise NotImplementedByController("METADATA")
        assert self.proc is None
        self.port = port
        self.create_config()
        args = [os.environ.get("SNAK_BIN", "target/debug/snak"),
                "--listen", "127.0.0.1:0",
                "--irc-listen", "{}:{}".format(hostname, port)]
        if password is not None:
            args += ["--password", password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     env=dict(os.environ, RUST_LOG="warn"))


def get_irctest_controller_class():
    return SnakController
