"""Waiting on local ports, for the benchmark scripts beside this file."""
import socket, time


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
