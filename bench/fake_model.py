#!/usr/bin/env python3
"""A chat-completions server speaking OpenAI's wire protocol, for benches (a model cannot run here).

Each answer takes a latency drawn from a log-normal distribution around --median-ms, fixed by the
request's id (the first number in the prompt), so that every peer sees the same latency for the same
request. The answer's JSON says which latency it served: {"action": ..., "model_ms": N}.

usage: bench/fake_model.py --port P [--median-ms 800] [--sigma 0.3]
"""
import argparse
import http.server
import json
import math
import random
import re
import socketserver
import sys
import time


def latency_ms(request_id, median_ms, sigma):
    rng = random.Random(request_id * 7919 + 17)
    return median_ms * math.exp(rng.gauss(0, sigma))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--median-ms", type=float, default=800)
    ap.add_argument("--sigma", type=float, default=0.3)
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK (40 ms) comes.
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            prompt = " ".join(m.get("content", "") for m in body.get("messages", []))
            found = re.search(r"\d+", prompt)
            request_id = int(found.group()) if found else 0
            ms = latency_ms(request_id, args.median_ms, args.sigma)
            time.sleep(ms / 1000)
            content = json.dumps({"action": "notify" if request_id % 3 else "restart", "model_ms": round(ms, 3)})
            answer = json.dumps({
                "id": f"chatcmpl-{request_id}", "object": "chat.completion", "model": body.get("model", "m"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4},
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = Server(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
