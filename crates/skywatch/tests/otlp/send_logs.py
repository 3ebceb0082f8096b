"""Sends log lines to Skywatch with real clients, and prints what it sent as JSON.

Usage: send_logs.py --grpc HOST:PORT --http http://HOST:PORT/v1/logs
                    --loki http://HOST:PORT/loki/api/v1/push --tag RUN

Clients:
- the OpenTelemetry Python SDK's OTLP log exporters (gRPC and HTTP/protobuf), fed by the
  SDK's logging handler: service.name "otlp-logs-<RUN>-<protocol>" (service.instance.id
  that and "-0", set here since the SDK would make up one), one line at INFO with
  an attribute and one at ERROR inside a span, so that it carries a trace and span ID;
- python-logging-loki's handler (Loki's JSON push), tags {"application": "loki-<RUN>"},
  one line at INFO and one at WARNING. Its handler's errors are raised here, not printed.

Standard output is one JSON document:

    {"otlp": [{"protocol": "grpc", "service": ..., "lines": [{"line": ..., "trace_id": ...}]}],
     "loki": {"application": ..., "lines": [{"line": ..., "severity": ...}]}}
"""

import argparse
import json
import logging

import logging_loki
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def send_otlp(protocol, exporter, tag):
    service = f"otlp-logs-{tag}-{protocol}"
    provider = LoggerProvider(
        resource=Resource.create(
            {
                "service.name": service,
                "service.instance.id": f"{service}-0",
                "host.name": "test-host",
            }
        )
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger = logging.getLogger(f"skywatch.tests.{protocol}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("skywatch.tests")
    lines = []
    first = f"block imported height=7 via {protocol}"
    logger.info(first, extra={"peer.id": "node-07"})
    lines.append({"line": first, "severity_text": "INFO", "peer_id": "node-07"})
    with tracer.start_as_current_span("import") as span:
        ctx = span.get_span_context()
        second = f"peer dropped via {protocol}"
        logger.error(second)
        lines.append(
            {
                "line": second,
                "severity_text": "ERROR",
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
            }
        )
    provider.force_flush()
    provider.shutdown()
    logger.removeHandler(handler)
    return {"protocol": protocol, "service": service, "lines": lines}


class StrictLokiHandler(logging_loki.LokiHandler):
    """Raises the push's failure instead of printing it."""

    def handleError(self, record):
        raise


def send_loki(url, tag):
    application = f"loki-{tag}"
    handler = StrictLokiHandler(url=url, tags={"application": application}, version="1")
    logger = logging.getLogger("skywatch.tests.loki")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    lines = [("consensus round 12 finished", "info"), ("payment channel slow", "warning")]
    for line, level in lines:
        getattr(logger, level)(line)
    logger.removeHandler(handler)
    return {
        "application": application,
        "lines": [{"line": line, "severity": level} for line, level in lines],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--http", required=True)
    parser.add_argument("--loki", required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    otlp = [
        send_otlp("grpc", GrpcExporter(endpoint=f"http://{args.grpc}", insecure=True), args.tag),
        send_otlp("http", HttpExporter(endpoint=args.http), args.tag),
    ]
    loki = send_loki(args.loki, args.tag)
    print(json.dumps({"otlp": otlp, "loki": loki}))


if __name__ == "__main__":
    main()
