#!/usr/bin/env python3
"""The AMQP benchmark's workload with pika, for comparison: confirmed publish, consume+ack, round trip.
usage: bench_pika.py URL MESSAGES ROUND_TRIPS; prints "publish_rate consume_rate rtt_p50_ms rtt_p99_ms"."""
import os
import sys
import threading
import time

import pika

url, messages, trips = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params = pika.URLParameters(url)
queue, replies = "pika.bench.%d" % os.getpid(), "pika.replies.%d" % os.getpid()
body = b"a" * 1024

conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.queue_declare(queue, durable=True)
ch.queue_declare(replies)
ch.confirm_delivery()  # pika's BlockingChannel waits for each confirm
t = time.perf_counter()
for _ in range(messages):
    ch.basic_publish("", queue, body)
publish_rate = messages / (time.perf_counter() - t)

cch = conn.channel()
cch.basic_qos(prefetch_count=500)
count = 0
t = time.perf_counter()
for method, props, b in cch.consume(queue):
    cch.basic_ack(method.delivery_tag)
    count += 1
    if count == messages:
        break
cch.cancel()
consume_rate = messages / (time.perf_counter() - t)


def responder():
    rc = pika.BlockingConnection(params)
    rch = rc.channel()
    rch.confirm_delivery()
    n = 0
    for method, props, b in rch.consume(queue):
        rch.basic_publish("", props.reply_to, b, pika.BasicProperties(correlation_id=props.correlation_id))
        rch.basic_ack(method.delivery_tag)
        n += 1
        if n == trips:
            break
    rc.close()


th = threading.Thread(target=responder)
th.start()
rtts = []
rch = conn.channel()
it = rch.consume(replies, auto_ack=False)
for i in range(trips):
    t = time.perf_counter()
    ch.basic_publish("", queue, b'{"n":%d}' % i, pika.BasicProperties(correlation_id=str(i), reply_to=replies))
    method, props, b = next(it)
    rch.basic_ack(method.delivery_tag)
    rtts.append((time.perf_counter() - t) * 1000)
th.join()
rtts.sort()
ch.queue_delete(queue)
ch.queue_delete(replies)
conn.close()
print("%.1f %.1f %.3f %.3f" % (publish_rate, consume_rate, rtts[len(rtts) // 2], rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]))
