//! Request bodies: the encoding a content type names, decompression within the body
//! limit, and decoding into the generated request types, with errors that say where.

use std::io::Read as _;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::{Accepted, ExportError, Signal, json};

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf, `application/x-protobuf`.
    Protobuf,
    /// OTLP/JSON, `application/json`.
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names (parameters such as `charset` ignored), or a
    /// 415 error naming the types accepted.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, ExportError> {
        let essence = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            _ => Err(ExportError::Unsupported(format!(
                "Content-Type {:?} is not an OTLP encoding; send application/x-protobuf or application/json",
                content_type.unwrap_or("")
            ))),
        }
    }

    /// The `Content-Type` of a body in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// The body without its `Content-Encoding` (`gzip`, `deflate`, `identity` or none),
/// refusing more than `limit` bytes once decompressed.
pub fn decompress(
    body: &[u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, ExportError> {
    let too_large = |what: &str| ExportError::TooLarge {
        limit: "max_request_body_bytes",
        value: limit as u64,
        message: format!(
            "the request body is larger {what}; send smaller batches (the exporter's batch size) or raise the limit"
        ),
    };
    let coding = content_encoding.unwrap_or("").trim().to_ascii_lowercase();
    let reader: Box<dyn std::io::Read + '_> = match coding.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(too_large(""));
            }
            return Ok(body.to_vec());
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        other => {
            return Err(ExportError::Unsupported(format!(
                "Content-Encoding {other:?} is not supported; send gzip, deflate or an uncompressed body"
            )));
        }
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ExportError::BadData {
            message: format!("the {coding} body does not decompress: {e}"),
        })?;
    if out.len() > limit {
        return Err(too_large("once decompressed"));
    }
    Ok(out)
}

fn protobuf<M: prost::Message + Default>(body: &[u8]) -> Result<M, ExportError> {
    // prost's error names the message and field where decoding stopped
    // (`ExportTraceServiceRequest.resource_spans: ResourceSpans.scope_spans: ...`).
    M::decode(body).map_err(|e| ExportError::BadData {
        message: format!("the protobuf body does not decode: {e}; send a serialized OTLP request"),
    })
}

fn from_json<M>(r: Result<M, json::JsonError>) -> Result<M, ExportError> {
    r.map_err(|e| ExportError::BadData {
        message: format!("the OTLP/JSON body is invalid at {e}"),
    })
}

/// Decodes an `ExportTraceServiceRequest`.
pub fn traces(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, ExportError> {
    match encoding {
        Encoding::Protobuf => protobuf(body),
        Encoding::Json => from_json(json::read_traces(body)),
    }
}

/// Decodes an `ExportMetricsServiceRequest`.
pub fn metrics(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportMetricsServiceRequest, ExportError> {
    match encoding {
        Encoding::Protobuf => protobuf(body),
        Encoding::Json => from_json(json::read_metrics(body)),
    }
}

/// Decodes an `ExportLogsServiceRequest`.
pub fn logs(body: &[u8], encoding: Encoding) -> Result<ExportLogsServiceRequest, ExportError> {
    match encoding {
        Encoding::Protobuf => protobuf(body),
        Encoding::Json => from_json(json::read_logs(body)),
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP's failures: small enough to declare here.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// The gRPC code (OTLP clients do not act on it).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong, for a developer.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The body of an OTLP/HTTP success: `Export<signal>ServiceResponse`, with
/// `partial_success` set only when something was refused or needs saying.
pub fn success_body(signal: Signal, accepted: &Accepted, encoding: Encoding) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    use prost::Message as _;
    let rejected = i64::try_from(accepted.rejected).unwrap_or(i64::MAX);
    let message = accepted.message.clone();
    match encoding {
        Encoding::Json => {
            let field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Metrics => "rejectedDataPoints",
                Signal::Logs => "rejectedLogRecords",
            };
            let body = match message {
                // int64 is a string in protobuf's JSON mapping.
                Some(m) => serde_json::json!({
                    "partialSuccess": {field: rejected.to_string(), "errorMessage": m}
                }),
                None => serde_json::json!({}),
            };
            body.to_string().into_bytes()
        }
        Encoding::Protobuf => match signal {
            Signal::Traces => trace::v1::ExportTraceServiceResponse {
                partial_success: message.map(|error_message| {
                    trace::v1::ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message,
                    }
                }),
            }
            .encode_to_vec(),
            Signal::Metrics => metrics::v1::ExportMetricsServiceResponse {
                partial_success: message.map(|error_message| {
                    metrics::v1::ExportMetricsPartialSuccess {
                        rejected_data_points: rejected,
                        error_message,
                    }
                }),
            }
            .encode_to_vec(),
            Signal::Logs => logs::v1::ExportLogsServiceResponse {
                partial_success: message.map(|error_message| logs::v1::ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message,
                }),
            }
            .encode_to_vec(),
        },
    }
}

/// The body of an OTLP/HTTP failure: a `google.rpc.Status`.
pub fn failure_body(error: &ExportError, encoding: Encoding) -> Vec<u8> {
    use prost::Message as _;
    let status = RpcStatus {
        code: error.grpc_code(),
        message: error.to_string(),
    };
    match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": status.code, "message": status.message})
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn content_types_name_the_encoding_and_others_are_refused() {
        for (ct, expected) in [
            ("application/x-protobuf", Encoding::Protobuf),
            ("application/json; charset=utf-8", Encoding::Json),
            ("Application/JSON", Encoding::Json),
        ] {
            assert_eq!(Encoding::from_content_type(Some(ct)).unwrap(), expected);
        }
        let e = Encoding::from_content_type(Some("text/plain")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Content-Type \"text/plain\" is not an OTLP encoding; send application/x-protobuf or application/json"
        );
        assert!(Encoding::from_content_type(None).is_err());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn bodies_decompress_within_the_limit() {
        let data = vec![b'x'; 1000];
        assert_eq!(decompress(&gzip(&data), Some("gzip"), 1000).unwrap(), data);
        assert_eq!(decompress(&data, None, 1000).unwrap(), data);
        // A small gzip body that inflates past the limit is refused by name.
        let bomb = gzip(&vec![0; 100_000]);
        assert!(bomb.len() < 1000);
        let e = decompress(&bomb, Some("gzip"), 1000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "max_request_body_bytes (1000) exceeded: the request body is larger once decompressed; \
             send smaller batches (the exporter's batch size) or raise the limit"
        );
        assert!(matches!(
            decompress(&data, None, 999),
            Err(ExportError::TooLarge { .. })
        ));
        assert!(matches!(
            decompress(b"not gzip", Some("gzip"), 1000),
            Err(ExportError::BadData { .. })
        ));
        assert!(matches!(
            decompress(b"x", Some("br"), 1000),
            Err(ExportError::Unsupported(_))
        ));
    }

    #[test]
    fn a_bad_protobuf_body_names_the_field_where_decoding_stopped() {
        // resource_spans (field 1, length-delimited) claims 5 bytes and holds 2.
        let e = traces(&[0x0a, 0x05, 0x12, 0x00], Encoding::Protobuf).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("the protobuf body does not decode: "),
            "{text}"
        );
        assert!(
            text.contains("ExportTraceServiceRequest.resource_spans"),
            "{text}"
        );
        let e = traces(br#"{"resourceSpans":[{"scopeSpans":7}]}"#, Encoding::Json).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the OTLP/JSON body is invalid at resourceSpans[0].scopeSpans: expected a list, found a number"
        );
    }
}
