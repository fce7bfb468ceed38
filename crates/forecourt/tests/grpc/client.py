"""A real gRPC client (grpcio) for the end-to-end tests: `client.py TARGET [CA_FILE NAME]`.

Calls test.Echo through TARGET (h2c, or TLS when a CA file and the name to verify are
given) and prints one JSON line per call: what it got, or the status it ended with.
"""
import json
import queue
import sys
import time

import grpc


def outcome(name, call):
    started = time.monotonic()
    try:
        got = call()
        result = {"call": name, "ok": True, "got": [g.decode() for g in got] if isinstance(got, list) else got.decode()}
    except grpc.RpcError as e:
        trailers = {k: v for k, v in (e.trailing_metadata() or ())}
        result = {"call": name, "ok": False, "code": e.code().name, "details": e.details(), "trailers": trailers}
    result["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(result), flush=True)


def chat(channel):
    """Bidirectional streaming, turn by turn: each message is sent only once the answer to
    the one before has come back, so nothing between the two ends may hold a message back
    until more arrive."""
    answers = queue.Queue()

    def messages():
        for word in ("a", "b", "c"):
            yield word.encode()
            answers.get(timeout=5)

    got = []
    for answer in channel.stream_stream("/test.Echo/Chat")(messages(), timeout=10):
        got.append(answer)
        answers.put(answer)
    return got


def main():
    target = sys.argv[1]
    if len(sys.argv) > 2:
        credentials = grpc.ssl_channel_credentials(root_certificates=open(sys.argv[2], "rb").read())
        channel = grpc.secure_channel(target, credentials, options=(("grpc.ssl_target_name_override", sys.argv[3]),))
    else:
        channel = grpc.insecure_channel(target)
    unary = channel.unary_unary("/test.Echo/Unary")
    outcome("unary", lambda: unary(b"hi", timeout=10))
    outcome("stream", lambda: list(channel.unary_stream("/test.Echo/Stream")(b"3", timeout=10)))
    outcome("chat", lambda: chat(channel))
    outcome("fail", lambda: channel.unary_unary("/test.Echo/Fail")(b"", timeout=10))
    outcome("deadline", lambda: channel.unary_unary("/test.Echo/Slow")(b"3", timeout=0.5))
    outcome("after", lambda: unary(b"again", timeout=10))
    outcome("no_server", lambda: channel.unary_unary("/dead.Service/Call")(b"", timeout=10))


if __name__ == "__main__":
    main()
