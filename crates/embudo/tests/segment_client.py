"""Sends a shopper's visit to Embudo with Segment's own Python library, unchanged.

Usage: segment_client.py HOST WRITE_KEY. Exits non-zero if the library reports any error.
"""
import sys

import segment.analytics as analytics

host, write_key = sys.argv[1], sys.argv[2]
errors = []

analytics.write_key = write_key
analytics.host = host
analytics.gzip = True
analytics.max_retries = 2
analytics.on_error = lambda error, batch: errors.append(repr(error))

visitor = "py-visitor-1"
analytics.page(anonymous_id=visitor, category="Home", name="Home", properties={"url": "https://shop.example/?utm_source=newsletter&utm_medium=email"})
analytics.track(anonymous_id=visitor, event="Products Searched", properties={"query": "teapot"})
analytics.track(anonymous_id=visitor, event="Product Viewed", properties={"product_id": "TEA-1", "price": 24.99, "currency": "EUR"})
analytics.track(anonymous_id=visitor, event="Product Added", properties={"product_id": "TEA-1", "price": 24.99, "quantity": 2, "currency": "EUR"})
analytics.identify(user_id="py-customer-1", anonymous_id=visitor, traits={"email": "py.customer@example.com", "name": "Py Customer", "email_consent": True})
analytics.track(
    user_id="py-customer-1",
    event="Order Completed",
    properties={
        "order_id": "py-order-1",
        "currency": "EUR",
        "shipping": 4.9,
        "tax": 0,
        "products": [{"product_id": "TEA-1", "price": 24.99, "quantity": 2}],
    },
)
analytics.flush()
analytics.shutdown()

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print("sent")
