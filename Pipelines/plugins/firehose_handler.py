"""An example Firehose data-transformation handler: the same file runs on AWS Lambda and under
Sluice's `exec` processor (through sluice_exec.py).

For each record:
- a JSON object gets `"enriched": true` and `"processedAt"` (UTC, ISO 8601), and comes back as
  one JSON line with the partition key `event_type` (for `!{partitionKeyFromLambda:event_type}`);
- a JSON object with `"event_type": "heartbeat"` is Dropped;
- anything else (not JSON, or JSON that is not an object) is ProcessingFailed: Sluice sends it
  to error output with its original bytes.

`processedAt` is the wall clock, so the output differs from one run to the next: a transform
like this one makes delivery at-least-once (see the README's section on exec).
"""

import base64
import json
import re
from datetime import datetime, timezone


def partition_value(value):
    """A value safe in an object key: lower case letters, digits, '-' and '_'."""
    text = re.sub(r"[^a-z0-9_-]+", "_", str(value).lower()).strip("_")
    return text[:64] or "unknown"


def transform(record):
    try:
        document = json.loads(base64.b64decode(record["data"]))
    except ValueError:  # not JSON, or not UTF-8
        document = None
    if not isinstance(document, dict):
        return {"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]}
    if document.get("event_type") == "heartbeat":
        return {"recordId": record["recordId"], "result": "Dropped", "data": record["data"]}
    document["enriched"] = True
    document["processedAt"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    line = json.dumps(document, separators=(",", ":")) + "\n"
    return {
        "recordId": record["recordId"],
        "result": "Ok",
        "data": base64.b64encode(line.encode()).decode(),
        "metadata": {"partitionKeys": {"event_type": partition_value(document.get("event_type", "unknown"))}},
    }


def lambda_handler(event, context):
    return {"records": [transform(record) for record in event["records"]]}
