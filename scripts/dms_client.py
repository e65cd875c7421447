#!/usr/bin/env python3
"""A test peer that behaves on the wire exactly like the clients dms-agent must serve.

--style original (default): the Python DMS client (`DMSClient`). One BlockingConnection and one channel
for every call; before each publish it declares `dms.<host>` durable with no arguments; it publishes on the
default exchange (routing key `dms.<host>`, delivery_mode 2, application/json, uuid4 correlation_id,
reply_to = its own exclusive server-named queue consumed with auto-ack; no timestamp, no expiration);
it ignores replies with another correlation id and gives up after `--timeout` iterations of
process_data_events(time_limit=1).

--style shipped: the shipped product's kombu publisher. Declares topic exchange `trilio_dms` (durable) and
the queue (`x-queue-type: quorum` only, with --quorum; else no arguments), binds it with key `dms.<host>`
and publishes to the exchange with that key.

Every request body is read from a file (or `-` for stdin: one JSON object per line) and sent in order on
the same channel. One JSON line per request is printed: {"reply": {...}} or {"error": "..."}.
Exit status: 0 when every request got a reply, 3 after a timeout, 4 when the broker refused something.
--publish-only sends and closes at once (a requester that has given up: its reply queue is deleted).
"""
import argparse
import json
import sys
import uuid

import pika


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--host", required=True, help="the node: requests go to dms.<host>")
    p.add_argument("--style", choices=["original", "shipped"], default="original")
    p.add_argument("--quorum", action="store_true", help="shipped style: declare the queue as quorum")
    p.add_argument("--timeout", type=int, default=60, help="request_timeout, in 1 s iterations")
    p.add_argument("--publish-only", action="store_true")
    p.add_argument("bodies", help="file with one JSON request per line, or - for stdin")
    args = p.parse_args()

    stream = sys.stdin if args.bodies == "-" else open(args.bodies, encoding="utf-8")
    bodies = [line.strip() for line in stream if line.strip()]
    queue = f"dms.{args.host}"

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    result = channel.queue_declare(queue="", exclusive=True)
    reply_queue = result.method.queue
    state = {"corr_id": None, "response": None}

    def on_reply(ch, method, props, body):
        if props.correlation_id == state["corr_id"]:
            state["response"] = json.loads(body)

    channel.basic_consume(queue=reply_queue, on_message_callback=on_reply, auto_ack=True)
    status = 0
    for body in bodies:
        try:
            if args.style == "original":
                channel.queue_declare(queue=queue, durable=True)
                exchange = ""
            else:
                channel.exchange_declare(exchange="trilio_dms", exchange_type="topic", durable=True)
                arguments = {"x-queue-type": "quorum"} if args.quorum else None
                channel.queue_declare(queue=queue, durable=True, arguments=arguments)
                channel.queue_bind(queue=queue, exchange="trilio_dms", routing_key=queue)
                exchange = "trilio_dms"
            state["corr_id"] = str(uuid.uuid4())
            state["response"] = None
            channel.basic_publish(
                exchange=exchange, routing_key=queue, body=body,
                properties=pika.BasicProperties(reply_to=reply_queue, correlation_id=state["corr_id"],
                                                delivery_mode=2, content_type="application/json"))
            if args.publish_only:
                print(json.dumps({"published": state["corr_id"]}), flush=True)
                continue
            for _ in range(args.timeout):
                connection.process_data_events(time_limit=1)
                if state["response"] is not None:
                    break
            if state["response"] is None:
                print(json.dumps({"error": f"Timeout after {args.timeout}s"}), flush=True)
                status = max(status, 3)
            else:
                print(json.dumps({"reply": state["response"]}), flush=True)
        except (pika.exceptions.ChannelClosed, pika.exceptions.ChannelWrongStateError,
                pika.exceptions.ConnectionClosed) as e:
            # The original client never reopens its channel: every later call fails the same way.
            print(json.dumps({"error": f"Failed to send request: {e!r}"}), flush=True)
            status = 4
    try:
        connection.close()
    except Exception:
        pass
    return status


if __name__ == "__main__":
    sys.exit(main())
