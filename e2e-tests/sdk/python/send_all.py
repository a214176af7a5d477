"""Sends every tracking call type to a running cdp through the official Python SDK.

Usage: send_all.py HOST WRITE_KEY MODE PREFIX
MODE is "sync" (sync_mode=True: one request per call) or "gzip" (gzip=True, queued, then
flush()). Prints the messages the SDK sent, as a JSON array, for the test to compare.
"""

import datetime
import json
import sys

from segment.analytics import Client

host, write_key, mode, prefix = sys.argv[1:5]
failures = []


def on_error(error, batch):
    failures.append(repr(error))


options = {"host": host, "on_error": on_error, "max_retries": 1}
if mode == "sync":
    options["sync_mode"] = True
elif mode == "gzip":
    options["gzip"] = True
else:
    sys.exit(f"unknown mode {mode}")
client = Client(write_key, **options)

context = {"app": {"name": "e2e", "version": "1.0"}, "ip": "198.51.100.4", "locale": "en-GB"}
when = datetime.datetime(2026, 11, 1, 12, 30, 15, 250000, tzinfo=datetime.timezone.utc)
sent = [
    client.identify(user_id=f"{prefix}-user", traits={"email": "ann@example.com", "plan": "pro", "age": 37},
                    context=context, timestamp=when, anonymous_id=f"{prefix}-anon",
                    integrations={"All": True}, message_id=f"{prefix}-identify"),
    client.track(user_id=f"{prefix}-user", event="Order Completed",
                 properties={"order_id": "o-1", "total": 129.5, "products": [{"sku": "A", "qty": 2}]},
                 context=context, message_id=f"{prefix}-track"),
    client.page(anonymous_id=f"{prefix}-anon", category="Docs", name="Pricing",
                properties={"url": "https://shop.example/pricing"}, message_id=f"{prefix}-page"),
    client.screen(user_id=f"{prefix}-user", category="Checkout", name="Cart",
                  properties={"items": 3}, message_id=f"{prefix}-screen"),
    client.group(user_id=f"{prefix}-user", group_id=f"{prefix}-org", traits={"name": "Acme", "seats": 12},
                 message_id=f"{prefix}-group"),
    client.alias(previous_id=f"{prefix}-anon", user_id=f"{prefix}-user", message_id=f"{prefix}-alias"),
]
client.flush()
if mode == "gzip":
    client.join()
if failures or not all(ok for ok, _ in sent):
    sys.exit(f"the SDK reported failures: {failures}")
print(json.dumps([msg for _, msg in sent], default=str))
