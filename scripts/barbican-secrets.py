#!/usr/bin/env python3
"""A Barbican-compatible secret endpoint for the demo and the end-to-end tests.

Serves the two calls the agent makes: GET /v1/secrets/<id> (metadata) and GET /v1/secrets/<id>/payload,
both requiring X-Auth-Token. Secrets come from JSON files: --secret ID=PATH (the payload is the file's text,
stored as text/plain, as the shipped product stores it).

usage: barbican-secrets.py --port 9311 --token TOKEN --secret bt1=/path/payload.json [--secret ...]
"""
import argparse
import http.server
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="0: the kernel picks a free one (see --port-file)")
    ap.add_argument("--port-file", help="write the port listened on here, once listening (atomically)")
    ap.add_argument("--token", help="the accepted keystone token (visible in ps: prefer --token-file)")
    ap.add_argument("--token-file", help="read the accepted keystone token from this file")
    ap.add_argument("--secret", action="append", default=[])
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="and this key")
    args = ap.parse_args()
    if args.token_file:
        with open(args.token_file) as f:
            args.token = f.read().strip()
    if not args.token:
        ap.error("--token or --token-file is required")
    secrets = {}
    for spec in args.secret:
        sid, path = spec.split("=", 1)
        with open(path) as f:
            secrets[sid] = f.read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # never print tokens or payloads
            sys.stderr.write("barbican: %s %s\n" % (self.command, self.path.split("?")[0]))

        def reply(self, code, body, ctype="application/json"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.headers.get("X-Auth-Token") != args.token:
                return self.reply(401, '{"error": "unauthorized"}')
            parts = self.path.strip("/").split("/")
            if len(parts) >= 3 and parts[0] == "v1" and parts[1] == "secrets" and parts[2] in secrets:
                sid = parts[2]
                if len(parts) == 3:
                    meta = {"secret_ref": "http://127.0.0.1:%d/v1/secrets/%s" % (args.port, sid), "status": "ACTIVE",
                            "content_types": {"default": "text/plain"}, "secret_type": "opaque"}
                    return self.reply(200, json.dumps(meta))
                if len(parts) == 4 and parts[3] == "payload":
                    if self.headers.get("Accept") not in ("text/plain", "*/*"):
                        return self.reply(406, '{"error": "not acceptable"}')
                    return self.reply(200, secrets[sid], "text/plain")
            self.reply(404, '{"error": "not found"}')

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    scheme = "http"
    if args.tls_cert:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    args.port = server.server_address[1]
    if args.port_file:
        import os
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % args.port)
        os.rename(args.port_file + ".tmp", args.port_file)
    print("barbican stand-in on %s://127.0.0.1:%d" % (scheme, args.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
