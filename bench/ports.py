"""Waiting on local ports, and stopping the servers behind them, for the benchmark scripts
beside this file."""
import os, signal, socket, subprocess, time


def wait_port(port, timeout=10):
    """Until something listens on 127.0.0.1:port."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def wait_closed(port, timeout=10):
    """Until nothing listens on 127.0.0.1:port any more."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            time.sleep(0.05)
        except OSError:
            return
    raise SystemExit(f"port {port} stays busy")


def stop_group(proc, grace=5):
    """Stops a server started with `start_new_session=True`, and whatever it started:
    SIGTERM to its process group, SIGKILL after `grace` seconds."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
