"""A real gRPC server (grpcio) for the end-to-end tests: `server.py PORT`.

Service test.Echo, raw bytes in and out (no protobuf needed):
  Unary(b)  -> b"echo:" + b
  Stream(n) -> n messages, b"item-0" ... (server streaming)
  Fail(_)   -> FAILED_PRECONDITION "no such thing", trailing metadata x-detail: trailer-value
  Slow(s)   -> answers b"late" after s seconds (for client deadlines)
  Chat(*)   -> b"echo:" + each message, as each comes (bidirectional streaming)
"""
import sys
import time
from concurrent import futures

import grpc


def unary(request, context):
    return b"echo:" + request


def stream(request, context):
    for i in range(int(request)):
        yield f"item-{i}".encode()


def fail(request, context):
    context.set_trailing_metadata((("x-detail", "trailer-value"),))
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no such thing")


def slow(request, context):
    time.sleep(float(request))
    return b"late"


def chat(requests, context):
    for request in requests:
        yield b"echo:" + request


def main():
    handlers = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handlers,))
    server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
