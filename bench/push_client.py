#!/usr/bin/env python3
"""Push load for scripts/bench.sh: POSTs BATCHES bodies of 1,000 new events each to
/v1/events with CONCURRENCY clients; prints "<events/s> <accepted> <non-200 answers> <seconds>".
SPREAD is "recent" (each batch holds five minutes of events, as devices pushing what just
happened send them, batches in time order) or "month" (every event at a random instant of a
month: the worst case for the rollups, each batch touching thousands of buckets).
Bodies are generated before the clock starts, so the figure is the server's, not Python's."""
import http.client
import json
import random
import sys
import threading
import time
import uuid

port, key, batches, concurrency = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
spread = sys.argv[5]
rng = random.Random(7)
users = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3000)]
types = ["click", "page_view", "purchase", "signup", "scroll", "error", "api_call", "form_submit"]
start_ms = 1766880000000
bodies = []
for b in range(batches):
    events = []
    for _ in range(1000):
        events.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "userId": rng.choice(users),
            "type": rng.choice(types),
            "name": "event_push",
            "properties": {"page": "/home"},
            "timestamp": start_ms + (b * 300_000 + rng.randrange(300_000) if spread == "recent"
                                     else rng.randrange(30 * 86400 * 1000)),
        })
    bodies.append(json.dumps(events, separators=(",", ":")).encode())

lock = threading.Lock()
accepted = 0
failed = 0
queue = list(range(batches))


def client():
    global accepted, failed
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while True:
        with lock:
            if not queue:
                break
            i = queue.pop()
        conn.request("POST", "/v1/events", body=bodies[i],
                     headers={"X-API-Key": key, "Content-Type": "application/json"})
        res = conn.getresponse()
        answer = res.read()
        with lock:
            if res.status == 200:
                accepted += json.loads(answer)["accepted"]
            else:
                failed += 1


t0 = time.monotonic()
threads = [threading.Thread(target=client) for _ in range(concurrency)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
print(f"{accepted / elapsed:.0f} {accepted} {failed} {elapsed:.3f}")
