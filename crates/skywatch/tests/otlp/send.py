"""Sends traces to Skywatch with the OpenTelemetry Python SDK's OTLP exporters, and prints
what it sent as JSON.

Usage: send.py --grpc HOST:PORT --http http://HOST:PORT/v1/traces

Each request (gRPC and HTTP/protobuf, each plain and gzip-compressed) carries one trace
of three spans: a server span with attributes of every kind the SDK allows (string, bool,
int, float and lists of each), an event, and an error status; a client child with a link
to the root; an internal grandchild. The spans are exported by calling the exporters
directly, so that each request's result is known.

Standard output is one JSON document:

    {"requests": [{"protocol": "grpc", "compression": "gzip", "accepted": true,
                   "spans": [SPAN, ...]}, ...]}

where each SPAN is the span in OTLP/JSON (lowerCamelCase keys, hex IDs, enums as
integers, 64-bit integers as strings), as Tempo's /api/traces/{id} writes spans, with its
resource and scope beside it: {"resource": {...}, "scope": {...}, "traceId": ..., ...}.
A reader compares it span for span with what a trace API answers.
"""

import argparse
import base64
import json
import sys
import time

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression as GrpcCompression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def make_spans(label):
    """One trace of three spans, finished, from a provider of their own."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": f"otlp-client-{label}",
                "service.namespace": "skywatch-tests",
                "host.name": "test-host",
                "process.pid": 4242,
            }
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("skywatch.tests.send", "1.2.3")
    with tracer.start_as_current_span(
        f"GET /api/{label}",
        kind=SpanKind.SERVER,
        attributes={
            "http.method": "GET",
            "http.status_code": 503,
            "retry": False,
            "latency.ratio": 0.25,
            "unicode": "größe 🚀",
            "tags": ["a", "b"],
            "codes": [1, -2, 3],
            "flags": [True, False],
            "weights": [0.5, 1.5],
            "big": 9007199254740993,
        },
    ) as root:
        root.add_event("cache.miss", {"cache.key": "user:1", "attempt": 2})
        with tracer.start_as_current_span(
            "p2p send",
            kind=SpanKind.CLIENT,
            links=[Link(root.get_span_context(), {"link.kind": "follows"})],
            attributes={"peer.id": "node-07"},
        ):
            with tracer.start_as_current_span("dht lookup", kind=SpanKind.INTERNAL):
                time.sleep(0.001)
        root.set_status(Status(StatusCode.ERROR, "upstream unavailable"))
    provider.shutdown()
    return memory.get_finished_spans()


def hex_ids(value):
    """OTLP/JSON's hex IDs where protobuf's JSON mapping has base64."""
    if isinstance(value, dict):
        return {
            k: (
                base64.b64decode(v).hex()
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                else hex_ids(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [hex_ids(v) for v in value]
    return value


def as_otlp_json(spans):
    """The spans as OTLP/JSON, each with its resource and scope beside it."""
    request = encode_spans(spans)
    data = hex_ids(MessageToDict(request, use_integers_for_enums=True))
    out = []
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                out.append({"resource": rs.get("resource", {}), "scope": ss.get("scope", {}), **span})
    return out


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--grpc", required=True, help="the OTLP/gRPC address, HOST:PORT")
    args.add_argument("--http", required=True, help="the OTLP/HTTP traces URL")
    opts = args.parse_args()

    exporters = [
        ("grpc", "none", GrpcExporter(endpoint=opts.grpc, insecure=True, timeout=10)),
        (
            "grpc",
            "gzip",
            GrpcExporter(endpoint=opts.grpc, insecure=True, timeout=10, compression=GrpcCompression.Gzip),
        ),
        ("http", "none", HttpExporter(endpoint=opts.http, timeout=10)),
        ("http", "gzip", HttpExporter(endpoint=opts.http, timeout=10, compression=HttpCompression.Gzip)),
    ]
    requests = []
    for protocol, compression, exporter in exporters:
        spans = make_spans(f"{protocol}-{compression}")
        result = exporter.export(spans)
        exporter.shutdown()
        requests.append(
            {
                "protocol": protocol,
                "compression": compression,
                "accepted": result == SpanExportResult.SUCCESS,
                "spans": as_otlp_json(spans),
            }
        )
    json.dump({"requests": requests}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
