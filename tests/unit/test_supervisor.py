"""The process supervisor: exits noticed at once with the name, code and log tail; nothing
outlives it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tooling.supervisor import POLL_S, Child, ChildExited, Supervisor, cpu_s


def python(name: str, code: str, log: Path, **kw: object) -> Child:
    return Child(name, ["-c", textwrap.dedent(code)], log, program=[sys.executable], **kw)


def test_an_unexpected_exit_fails_the_wait_within_two_seconds(tmp_path: Path) -> None:
    with Supervisor().running() as sup:
        sup.start(python("doomed", "print('about to fail', flush=True); raise SystemExit(3)",
                         tmp_path / "doomed.log"), timeout=None)  # fmt: skip
        began = time.monotonic()
        with pytest.raises(ChildExited) as failed:
            sup.wait(lambda: False, "something that never comes", timeout=60, every=0.1)
        assert time.monotonic() - began < 2.0
    assert failed.value.name == "doomed" and failed.value.code == 3
    assert "about to fail" in failed.value.tail


def test_a_deadline_fails_loudly_with_what_was_awaited(tmp_path: Path) -> None:
    with Supervisor().running() as sup:
        sup.start(python("sleeper", "import time; time.sleep(30)", tmp_path / "s.log"), None)
        with pytest.raises(TimeoutError, match="waited 0 s for the moon \\(still 3 away\\)"):
            sup.wait(lambda: False, "the moon", timeout=0.2, progress=lambda: "still 3 away",
                     every=0.05)  # fmt: skip


def test_a_child_stopped_or_killed_on_purpose_is_not_a_failure(tmp_path: Path) -> None:
    with Supervisor().running() as sup:
        code = "import time; print('first', flush=True); time.sleep(30)"
        child = sup.start(python("c", code, tmp_path / "c.log", ready_line="first"), 30)
        child.kill()
        assert child.returncode == -9
        time.sleep(2 * POLL_S)
        sup.check()  # raises nothing
        restarted = sup.start(python("c", "print('again', flush=True)", tmp_path / "c.log"), None)
        restarted.proc.wait(10)
        # one log per start, the previous kept
        assert (tmp_path / "c.log.1").read_text() == "first\n"
        assert (tmp_path / "c.log").read_text() == "again\n"


def test_ready_line_and_stop_all_leave_nothing_running(tmp_path: Path) -> None:
    sup = Supervisor()
    code = "import time; print('streaming slot x', flush=True); time.sleep(60)"
    child = sup.start(python("relay", code, tmp_path / "r.log", ready_line="streaming slot"), 30)
    pid = child.pid
    sup.stop_all()
    assert child.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_children_die_with_a_supervisor_killed_by_sigkill(tmp_path: Path) -> None:
    """No atexit runs after kill -9: the children must still go (PDEATHSIG)."""
    script = f"""
        import sys, time
        from pathlib import Path
        from tooling.supervisor import Child, Supervisor
        sup = Supervisor()
        child = Child("child", [], Path({str(tmp_path / "child.log")!r}),
                      program=[sys.executable, "-c",
                               "from tooling.supervisor import die_with_parent;"
                               "die_with_parent(); import time; time.sleep(120)"])
        sup.start(child, timeout=None)
        print(child.pid, flush=True)
        time.sleep(120)
    """
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                              stdout=subprocess.PIPE, text=True, cwd=Path.cwd())  # fmt: skip
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        time.sleep(0.5)  # the child has called prctl by now
        os.kill(child_pid, 0)  # alive while its parent is
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(child_pid, 9)
            pytest.fail("the child outlived its killed supervisor")
    finally:
        parent.kill()


def test_free_ports_are_below_the_ephemeral_range() -> None:
    """Outgoing connections take ports from the ephemeral range: a port handed to a child
    must come from below it, and be bindable."""
    import socket

    from tooling.supervisor import PORT_FLOOR, _ephemeral_low, free_port

    low = _ephemeral_low()
    ports = {free_port() for _ in range(20)}
    assert all(PORT_FLOOR <= p < low for p in ports) and len(ports) > 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))


def test_cpu_seconds_of_a_process_match_its_own_clock_and_are_zero_once_it_is_gone():
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn a third of a second of CPU
        pass
    # /proc counts in clock ticks (10 ms): the process's own CPU clock is the reference
    assert abs(cpu_s(os.getpid()) - time.process_time()) < 0.05
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert cpu_s(gone.pid) == 0.0
