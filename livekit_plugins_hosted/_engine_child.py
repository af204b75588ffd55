"""Child-process entry point of the local engine: llama-cpp-python's server plus a watchdog.

The watchdog ends the server when the parent process is gone (killed, crashed), so no engine
is ever left running without its owner.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main() -> None:
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    serve()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
