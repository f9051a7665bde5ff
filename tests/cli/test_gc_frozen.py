"""The CLI loads modules with garbage collection off, freezes what they made, and turns it back on."""

from __future__ import annotations

import gc
import subprocess
import sys


def test_collection_is_back_on_after_a_command_loads():
    code = ("import gc, csmine.cli as c; assert gc.isenabled(); frozen = gc.get_freeze_count(); "
            "assert frozen > 0; c.cli.get_command(None, 'conform'); assert gc.isenabled(); "
            "assert gc.get_freeze_count() > frozen; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_a_process_that_turned_collection_off_keeps_it_off():
    code = ("import gc; gc.disable(); import csmine.cli as c; c.cli.get_command(None, 'conform'); "
            "print(gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert gc.isenabled()  # this process: untouched
