//! Kubernetes service discovery against a fake API server on loopback: for each role, the
//! documented list responses in, the exact targets and labels Prometheus 2.42 would build
//! out; errors; and a pod found this way scraped end to end with Prometheus's usual
//! relabelling.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Labels, Matcher};
use scrape::config::StaticConfig;
use scrape::{Config, Health, ScrapeManager};
use serde_json::{Value, json};
use storage::{MemStorage, Queryable, SelectHints};

/// What the fake API server answers, and what it was asked.
#[derive(Default)]
struct State {
    /// Responses by path (and `#<continue token>` for later pages): status and JSON.
    answers: HashMap<String, (u16, Value)>,
    /// Every request's path and query.
    requests: Vec<String>,
    /// Every request's `Authorization` header.
    authorization: Vec<Option<String>>,
}

/// A fake Kubernetes API server: answers GETs of list paths from [`State`].
struct FakeApi {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                let state = shared.clone();
                async move {
                    let mut state = state.lock().unwrap();
                    state.requests.push(uri.to_string());
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    state.authorization.push(auth);
                    let page = uri.query().and_then(|q| {
                        form_pairs(q)
                            .into_iter()
                            .find(|(k, _)| k == "continue")
                            .map(|(_, v)| v)
                    });
                    let key = match page {
                        Some(token) => format!("{}#{token}", uri.path()),
                        None => uri.path().to_owned(),
                    };
                    let (status, body) = state.answers.get(&key).cloned().unwrap_or((
                        404,
                        json!({"kind": "Status", "message": format!("{key} not found")}),
                    ));
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body.to_string(),
                    )
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    /// Answers `path` with a list of `kind` holding `items`.
    fn list(&self, path: &str, kind: &str, items: Value) {
        self.answer(
            path,
            200,
            json!({"kind": kind, "apiVersion": "v1", "metadata": {}, "items": items}),
        );
    }

    fn answer(&self, path: &str, status: u16, body: Value) {
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), (status, body));
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
}

/// Percent-decoding, `+` as space, for the fake's reading of queries.
fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The groups the first `kubernetes_sd_configs` entry of a job with `settings` discovers.
async fn discover(settings: &str) -> Result<Vec<StaticConfig>, String> {
    let indented = settings.trim().replace('\n', "\n        ");
    let text = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - {indented}\n"
    );
    let config = Config::parse(&text, "test.yml").unwrap();
    let (providers, failed) = scrape::discovery::providers(&config.scrape_configs[0].discovery);
    if let Some((provider, e)) = failed.first() {
        return Err(format!("{provider}: {e}"));
    }
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].name(), "kubernetes_sd_configs[0]");
    assert_eq!(providers[0].refresh_interval(), Duration::from_secs(30));
    providers[0].refresh().await
}

/// A discovered target: its address and labels, names without `__` written without the
/// `__meta_kubernetes_` prefix (`instance` aside).
fn target(address: &str, labels: &[(&str, &str)]) -> StaticConfig {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| {
            let name = if k.starts_with("__") || *k == "instance" {
                (*k).to_owned()
            } else {
                format!("__meta_kubernetes_{k}")
            };
            (name, (*v).to_owned())
        })
        .collect();
    StaticConfig {
        targets: vec![address.to_owned()],
        labels,
    }
}

/// Compares target by target, so that a failure shows the one that differs.
fn assert_targets(got: &[StaticConfig], want: &[StaticConfig]) {
    for (n, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "target {n}");
    }
    assert_eq!(got.len(), want.len(), "{got:#?}");
}

#[tokio::test]
async fn nodes_are_their_kubelets_at_the_first_address_by_priority() {
    let api = FakeApi::start().await;
    api.list(
        "/api/v1/nodes",
        "NodeList",
        json!([
            {
                "metadata": {
                    "name": "node-a",
                    "labels": {"kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": ""},
                    "annotations": {"node.alpha.kubernetes.io/ttl": "0"}
                },
                "spec": {"providerID": "aws:///eu-west-1a/i-1"},
                "status": {
                    "addresses": [
                        {"type": "Hostname", "address": "node-a"},
                        {"type": "ExternalIP", "address": "203.0.113.7"},
                        {"type": "InternalIP", "address": "10.1.0.7"},
                        {"type": "InternalIP", "address": "10.1.0.8"}
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
                }
            },
            {
                "metadata": {"name": "node-b"},
                "status": {
                    "addresses": [{"type": "Hostname", "address": "node-b.local"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}}
                }
            },
            {"metadata": {"name": "node-without-addresses"}}
        ]),
    );
    let got = discover(&format!(
        "role: node\napi_server: http://{}\nselectors: [{{role: node, label: 'kubernetes.io/os=linux', field: 'spec.unschedulable=false'}}]",
        api.addr
    ))
    .await
    .unwrap();
    assert_targets(
        &got,
        &[
            target(
                "10.1.0.7:10250",
                &[
                    ("instance", "node-a"),
                    ("node_name", "node-a"),
                    ("node_provider_id", "aws:///eu-west-1a/i-1"),
                    ("node_label_kubernetes_io_os", "linux"),
                    ("node_labelpresent_kubernetes_io_os", "true"),
                    ("node_label_node_role_kubernetes_io_worker", ""),
                    ("node_labelpresent_node_role_kubernetes_io_worker", "true"),
                    ("node_annotation_node_alpha_kubernetes_io_ttl", "0"),
                    (
                        "node_annotationpresent_node_alpha_kubernetes_io_ttl",
                        "true",
                    ),
                    ("node_address_Hostname", "node-a"),
                    ("node_address_ExternalIP", "203.0.113.7"),
                    ("node_address_InternalIP", "10.1.0.7"),
                ],
            ),
            target(
                "node-b.local:10255",
                &[
                    ("instance", "node-b"),
                    ("node_name", "node-b"),
                    ("node_provider_id", ""),
                    ("node_address_Hostname", "node-b.local"),
                ],
            ),
        ],
    );
    assert_eq!(
        api.requests(),
        [
            "/api/v1/nodes?labelSelector=kubernetes.io%2Fos%3Dlinux&fieldSelector=spec.unschedulable%3Dfalse&limit=500"
        ]
    );
}

fn services() -> Value {
    json!([
        {
            "metadata": {
                "name": "web", "namespace": "default",
                "labels": {"app.kubernetes.io/name": "web"},
                "annotations": {"prometheus.io/scrape": "true"}
            },
            "spec": {
                "type": "ClusterIP", "clusterIP": "10.96.0.10",
                "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP"},
                    {"port": 9090, "protocol": "TCP"}
                ]
            }
        }
    ])
}

#[tokio::test]
async fn services_are_their_ports_at_the_cluster_dns_name() {
    let api = FakeApi::start().await;
    api.list(
        "/api/v1/namespaces/default/services",
        "ServiceList",
        services(),
    );
    api.list(
        "/api/v1/namespaces/edge/services",
        "ServiceList",
        json!([
            {
                "metadata": {"name": "docs", "namespace": "edge"},
                "spec": {"type": "ExternalName", "externalName": "docs.example.com",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}
            },
            {
                "metadata": {"name": "lb", "namespace": "edge"},
                "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "loadBalancerIP": "198.51.100.1",
                         "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}
            }
        ]),
    );
    let got = discover(&format!(
        "role: service\napi_server: http://{}\nnamespaces: {{names: [default, edge]}}",
        api.addr
    ))
    .await
    .unwrap();
    let web = [
        ("service_name", "web"),
        ("namespace", "default"),
        ("service_label_app_kubernetes_io_name", "web"),
        ("service_labelpresent_app_kubernetes_io_name", "true"),
        ("service_annotation_prometheus_io_scrape", "true"),
        ("service_annotationpresent_prometheus_io_scrape", "true"),
        ("service_type", "ClusterIP"),
        ("service_cluster_ip", "10.96.0.10"),
    ];
    let with = |base: &[(&'static str, &'static str)], more: &[(&'static str, &'static str)]| {
        base.iter().chain(more).copied().collect::<Vec<_>>()
    };
    assert_targets(
        &got,
        &[
            target(
                "web.default.svc:80",
                &with(
                    &web,
                    &[
                        ("service_port_name", "http"),
                        ("service_port_number", "80"),
                        ("service_port_protocol", "TCP"),
                    ],
                ),
            ),
            target(
                "web.default.svc:9090",
                &with(
                    &web,
                    &[
                        ("service_port_name", ""),
                        ("service_port_number", "9090"),
                        ("service_port_protocol", "TCP"),
                    ],
                ),
            ),
            target(
                "docs.edge.svc:443",
                &[
                    ("service_name", "docs"),
                    ("namespace", "edge"),
                    ("service_type", "ExternalName"),
                    ("service_external_name", "docs.example.com"),
                    ("service_port_name", "https"),
                    ("service_port_number", "443"),
                    ("service_port_protocol", "TCP"),
                ],
            ),
            target(
                "lb.edge.svc:53",
                &[
                    ("service_name", "lb"),
                    ("namespace", "edge"),
                    ("service_type", "LoadBalancer"),
                    ("service_cluster_ip", "10.96.0.20"),
                    ("service_loadbalancer_ip", "198.51.100.1"),
                    ("service_port_name", "dns"),
                    ("service_port_number", "53"),
                    ("service_port_protocol", "UDP"),
                ],
            ),
        ],
    );
    assert_eq!(
        api.requests(),
        [
            "/api/v1/namespaces/default/services?limit=500",
            "/api/v1/namespaces/edge/services?limit=500"
        ]
    );
}

/// A pod of a ReplicaSet on node-a: container `app` with two ports, `sidecar` with none,
/// and an init container.
fn web_pod() -> Value {
    json!({
        "metadata": {
            "name": "web-1", "namespace": "default", "uid": "uid-web-1",
            "labels": {"app": "web"},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [
                {"kind": "Node", "name": "not-the-controller"},
                {"kind": "ReplicaSet", "name": "web-5d8f", "controller": true}
            ]
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [
                {"name": "app", "image": "web:1.2", "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}
                ]},
                {"name": "sidecar", "image": "proxy:3"}
            ],
            "initContainers": [{"name": "init", "image": "busybox"}]
        },
        "status": {
            "phase": "Running", "podIP": "10.0.0.1", "hostIP": "10.1.0.7",
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"}
            ],
            "containerStatuses": [
                {"name": "app", "containerID": "containerd://aaa"},
                {"name": "sidecar", "containerID": "containerd://bbb"}
            ],
            "initContainerStatuses": [{"name": "init", "containerID": "containerd://ccc"}]
        }
    })
}

/// The labels every target of [`web_pod`] carries.
const WEB_POD: &[(&str, &str)] = &[
    ("pod_name", "web-1"),
    ("pod_ip", "10.0.0.1"),
    ("pod_ready", "true"),
    ("pod_phase", "Running"),
    ("pod_node_name", "node-a"),
    ("pod_host_ip", "10.1.0.7"),
    ("pod_uid", "uid-web-1"),
    ("pod_controller_kind", "ReplicaSet"),
    ("pod_controller_name", "web-5d8f"),
    ("pod_label_app", "web"),
    ("pod_labelpresent_app", "true"),
    ("pod_annotation_prometheus_io_scrape", "true"),
    ("pod_annotationpresent_prometheus_io_scrape", "true"),
];

fn with<'a>(base: &[(&'a str, &'a str)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(more).copied().collect()
}

#[tokio::test]
async fn pods_are_one_target_per_container_port_and_per_container_without_ports() {
    let api = FakeApi::start().await;
    // Two pages: the second after the `continue` token the first gives.
    api.answer(
        "/api/v1/pods",
        200,
        json!({"kind": "PodList", "metadata": {"continue": "page-2"}, "items": [web_pod()]}),
    );
    api.list(
        "/api/v1/pods#page-2",
        "PodList",
        json!([
            // Pending, without an IP yet: no targets.
            {"metadata": {"name": "new", "namespace": "default"}, "status": {"phase": "Pending"},
             "spec": {"containers": [{"name": "c", "image": "i"}]}},
            // No Ready condition: "unknown".
            {"metadata": {"name": "db", "namespace": "data", "uid": "u2"},
             "spec": {"nodeName": "node-b", "containers": [{"name": "pg", "image": "postgres", "ports": [{"containerPort": 5432, "protocol": "TCP"}]}]},
             "status": {"phase": "Running", "podIP": "fd00::5", "hostIP": "10.1.0.8"}}
        ]),
    );
    api.list(
        "/api/v1/nodes",
        "NodeList",
        json!([{"metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "a"}, "annotations": {"x": "y"}}}]),
    );
    let got = discover(&format!(
        "role: pod\napi_server: http://{}\nattach_metadata: {{node: true}}\nbearer_token: pod-token",
        api.addr
    ))
    .await
    .unwrap();
    // The group's labels: the pod's, its namespace, and its node's name and labels.
    let group = with(
        WEB_POD,
        &[
            ("namespace", "default"),
            ("node_name", "node-a"),
            ("node_label_topology_kubernetes_io_zone", "a"),
            ("node_labelpresent_topology_kubernetes_io_zone", "true"),
        ],
    );
    let app = with(
        &group,
        &[
            ("pod_container_name", "app"),
            ("pod_container_id", "containerd://aaa"),
            ("pod_container_image", "web:1.2"),
            ("pod_container_init", "false"),
            ("pod_container_port_protocol", "TCP"),
        ],
    );
    assert_targets(
        &got,
        &[
            target(
                "10.0.0.1:8080",
                &with(
                    &app,
                    &[
                        ("pod_container_port_name", "http"),
                        ("pod_container_port_number", "8080"),
                    ],
                ),
            ),
            target(
                "10.0.0.1:9090",
                &with(
                    &app,
                    &[
                        ("pod_container_port_name", "metrics"),
                        ("pod_container_port_number", "9090"),
                    ],
                ),
            ),
            target(
                "10.0.0.1",
                &with(
                    &group,
                    &[
                        ("pod_container_name", "sidecar"),
                        ("pod_container_id", "containerd://bbb"),
                        ("pod_container_image", "proxy:3"),
                        ("pod_container_init", "false"),
                    ],
                ),
            ),
            target(
                "10.0.0.1",
                &with(
                    &group,
                    &[
                        ("pod_container_name", "init"),
                        ("pod_container_id", "containerd://ccc"),
                        ("pod_container_image", "busybox"),
                        ("pod_container_init", "true"),
                    ],
                ),
            ),
            // node-b is not listed: no node labels.
            target(
                "[fd00::5]:5432",
                &[
                    ("pod_name", "db"),
                    ("pod_ip", "fd00::5"),
                    ("pod_ready", "unknown"),
                    ("pod_phase", "Running"),
                    ("pod_node_name", "node-b"),
                    ("pod_host_ip", "10.1.0.8"),
                    ("pod_uid", "u2"),
                    ("namespace", "data"),
                    ("pod_container_name", "pg"),
                    ("pod_container_id", ""),
                    ("pod_container_image", "postgres"),
                    ("pod_container_init", "false"),
                    ("pod_container_port_name", ""),
                    ("pod_container_port_number", "5432"),
                    ("pod_container_port_protocol", "TCP"),
                ],
            ),
        ],
    );
    let state = api.state.lock().unwrap();
    assert_eq!(
        state.requests,
        [
            "/api/v1/nodes?limit=500",
            "/api/v1/pods?limit=500",
            "/api/v1/pods?limit=500&continue=page-2"
        ]
    );
    assert!(
        state
            .authorization
            .iter()
            .all(|a| a.as_deref() == Some("Bearer pod-token"))
    );
}

/// The service, pod and node that endpoints and endpoint slices join with.
fn related(api: &FakeApi) {
    api.list("/api/v1/services", "ServiceList", services());
    api.list("/api/v1/pods", "PodList", json!([web_pod()]));
    api.list(
        "/api/v1/nodes",
        "NodeList",
        json!([{"metadata": {"name": "node-a", "labels": {"zone": "a"}}}]),
    );
}

/// The labels of the `web` service, which endpoints and slices of it carry.
const WEB_SERVICE: &[(&str, &str)] = &[
    ("service_name", "web"),
    ("namespace", "default"),
    ("service_label_app_kubernetes_io_name", "web"),
    ("service_labelpresent_app_kubernetes_io_name", "true"),
    ("service_annotation_prometheus_io_scrape", "true"),
    ("service_annotationpresent_prometheus_io_scrape", "true"),
];

#[tokio::test]
async fn endpoints_join_their_service_and_pods_and_add_uncovered_container_ports() {
    let api = FakeApi::start().await;
    related(&api);
    api.list(
        "/api/v1/endpoints",
        "EndpointsList",
        json!([{
            "metadata": {"name": "web", "namespace": "default", "labels": {"app.kubernetes.io/name": "web"}},
            "subsets": [{
                "addresses": [{"ip": "10.0.0.1", "nodeName": "node-a", "hostname": "web-1",
                               "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}],
                "notReadyAddresses": [{"ip": "10.0.0.2"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            }]
        }]),
    );
    let got = discover(&format!(
        "role: endpoints\napi_server: http://{}\nattach_metadata: {{node: true}}\nselectors: [{{role: pod, field: 'status.phase=Running'}}]",
        api.addr
    ))
    .await
    .unwrap();
    let group = with(
        WEB_SERVICE,
        &[
            ("endpoints_name", "web"),
            ("endpoints_label_app_kubernetes_io_name", "web"),
            ("endpoints_labelpresent_app_kubernetes_io_name", "true"),
        ],
    );
    let pod = with(&group, WEB_POD);
    assert_targets(
        &got,
        &[
            target(
                "10.0.0.1:8080",
                &with(
                    &pod,
                    &[
                        ("endpoint_port_name", "http"),
                        ("endpoint_port_protocol", "TCP"),
                        ("endpoint_ready", "true"),
                        ("endpoint_address_target_kind", "Pod"),
                        ("endpoint_address_target_name", "web-1"),
                        ("endpoint_node_name", "node-a"),
                        ("endpoint_hostname", "web-1"),
                        ("node_name", "node-a"),
                        ("node_label_zone", "a"),
                        ("node_labelpresent_zone", "true"),
                        ("pod_container_name", "app"),
                        ("pod_container_image", "web:1.2"),
                        ("pod_container_port_name", "http"),
                        ("pod_container_port_number", "8080"),
                        ("pod_container_port_protocol", "TCP"),
                    ],
                ),
            ),
            target(
                "10.0.0.2:8080",
                &with(
                    &group,
                    &[
                        ("endpoint_port_name", "http"),
                        ("endpoint_port_protocol", "TCP"),
                        ("endpoint_ready", "false"),
                    ],
                ),
            ),
            // The pod's port no endpoint covers is a target too.
            target(
                "10.0.0.1:9090",
                &with(
                    &pod,
                    &[
                        ("pod_container_name", "app"),
                        ("pod_container_image", "web:1.2"),
                        ("pod_container_port_name", "metrics"),
                        ("pod_container_port_number", "9090"),
                        ("pod_container_port_protocol", "TCP"),
                    ],
                ),
            ),
        ],
    );
    let requests = api.requests();
    assert!(
        requests
            .contains(&"/api/v1/pods?fieldSelector=status.phase%3DRunning&limit=500".to_owned()),
        "{requests:?}"
    );
}

#[tokio::test]
async fn endpoint_slices_join_the_service_they_name_and_their_pods() {
    let api = FakeApi::start().await;
    related(&api);
    api.list(
        "/apis/discovery.k8s.io/v1/endpointslices",
        "EndpointSliceList",
        json!([{
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"],
                 "conditions": {"ready": true, "serving": true, "terminating": false},
                 "hostname": "web-1", "nodeName": "node-a",
                 "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                 "deprecatedTopology": {"topology.kubernetes.io/zone": "a"}},
                {"addresses": ["10.0.0.3"], "conditions": {}}
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]
        }]),
    );
    let got = discover(&format!(
        "role: endpointslice\napi_server: http://{}",
        api.addr
    ))
    .await
    .unwrap();
    let group = with(
        WEB_SERVICE,
        &[
            ("endpointslice_name", "web-abc"),
            ("endpointslice_address_type", "IPv4"),
        ],
    );
    let port = [
        ("endpointslice_port_name", "http"),
        ("endpointslice_port_protocol", "TCP"),
        ("endpointslice_port", "8080"),
        ("endpointslice_port_app_protocol", "http"),
    ];
    let pod = with(&group, WEB_POD);
    assert_targets(
        &got,
        &[
            target(
                "10.0.0.1:8080",
                &with(
                    &with(&pod, &port),
                    &[
                        ("endpointslice_endpoint_conditions_ready", "true"),
                        ("endpointslice_endpoint_conditions_serving", "true"),
                        ("endpointslice_endpoint_conditions_terminating", "false"),
                        ("endpointslice_endpoint_hostname", "web-1"),
                        ("endpointslice_address_target_kind", "Pod"),
                        ("endpointslice_address_target_name", "web-1"),
                        (
                            "endpointslice_endpoint_topology_topology_kubernetes_io_zone",
                            "a",
                        ),
                        (
                            "endpointslice_endpoint_topology_present_topology_kubernetes_io_zone",
                            "true",
                        ),
                        ("pod_container_name", "app"),
                        ("pod_container_image", "web:1.2"),
                        ("pod_container_port_name", "http"),
                        ("pod_container_port_number", "8080"),
                        ("pod_container_port_protocol", "TCP"),
                    ],
                ),
            ),
            target("10.0.0.3:8080", &with(&group, &port)),
            target(
                "10.0.0.1:9090",
                &with(
                    &pod,
                    &[
                        ("pod_container_name", "app"),
                        ("pod_container_image", "web:1.2"),
                        ("pod_container_port_name", "metrics"),
                        ("pod_container_port_number", "9090"),
                        ("pod_container_port_protocol", "TCP"),
                    ],
                ),
            ),
        ],
    );
    // Without attach_metadata, no node is listed.
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.starts_with("/api/v1/nodes"))
    );
}

#[tokio::test]
async fn ingresses_are_their_hosts_and_paths_https_where_tls_covers_them() {
    let api = FakeApi::start().await;
    api.list(
        "/apis/networking.k8s.io/v1/ingresses",
        "IngressList",
        json!([{
            "metadata": {"name": "site", "namespace": "web", "labels": {"team": "a"},
                         "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["*.example.com"]}],
                "rules": [
                    {"host": "shop.example.com", "http": {"paths": [{"path": "/api"}, {"path": ""}]}},
                    {"host": "example.org"}
                ]
            }
        }]),
    );
    let got = discover(&format!("role: ingress\napi_server: http://{}", api.addr))
        .await
        .unwrap();
    let group = [
        ("ingress_name", "site"),
        ("namespace", "web"),
        ("ingress_class_name", "nginx"),
        ("ingress_label_team", "a"),
        ("ingress_labelpresent_team", "true"),
        ("ingress_annotation_kubernetes_io_ingress_class", "nginx"),
        (
            "ingress_annotationpresent_kubernetes_io_ingress_class",
            "true",
        ),
    ];
    let rule = |host, scheme, path| {
        target(
            host,
            &with(
                &group,
                &[
                    ("ingress_scheme", scheme),
                    ("ingress_host", host),
                    ("ingress_path", path),
                ],
            ),
        )
    };
    assert_targets(
        &got,
        &[
            rule("shop.example.com", "https", "/api"),
            rule("shop.example.com", "https", "/"),
            rule("example.org", "http", "/"),
        ],
    );
}

#[tokio::test]
async fn api_errors_fail_the_refresh_so_the_last_targets_are_kept() {
    let api = FakeApi::start().await;
    api.answer(
        "/api/v1/pods",
        403,
        json!({"kind": "Status", "status": "Failure", "reason": "Forbidden",
               "message": "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\""}),
    );
    let e = discover(&format!("role: pod\napi_server: http://{}", api.addr))
        .await
        .unwrap_err();
    assert!(e.contains("HTTP status 403 Forbidden"), "{e}");
    assert!(
        e.contains("cannot list resource \"pods\""),
        "the API's message: {e}"
    );

    // An API server that does not answer at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = discover(&format!("role: pod\napi_server: http://{closed}"))
        .await
        .unwrap_err();
    assert!(e.contains(&closed.to_string()), "names the URL: {e}");

    // A body that is not a list.
    api.answer("/api/v1/services", 200, json!({"items": "nope"}));
    let e = discover(&format!("role: service\napi_server: http://{}", api.addr))
        .await
        .unwrap_err();
    assert!(e.contains("line 1, column"), "{e}");
}

#[tokio::test]
async fn a_kubeconfig_gives_the_server_and_the_token() {
    let api = FakeApi::start().await;
    api.list(
        "/api/v1/namespaces/team-a/services",
        "ServiceList",
        json!([]),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n  - name: other\n    cluster: {{server: 'http://127.0.0.1:1'}}\n  - name: fake\n    cluster:\n      server: http://{}\ncontexts:\n  - name: test\n    context: {{cluster: fake, user: me, namespace: ignored}}\nusers:\n  - name: me\n    user: {{token: kc-token}}\npreferences: {{}}\n",
            api.addr
        ),
    )
    .unwrap();
    let got = discover(&format!(
        "role: service\nkubeconfig_file: {}\nnamespaces: {{names: [team-a]}}",
        path.display()
    ))
    .await
    .unwrap();
    assert!(got.is_empty());
    let state = api.state.lock().unwrap();
    assert_eq!(
        state.requests,
        ["/api/v1/namespaces/team-a/services?limit=500"]
    );
    assert_eq!(state.authorization, [Some("Bearer kc-token".to_owned())]);
}

/// A target serving a counter; counts its scrapes.
async fn exporter() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    format!("# TYPE blocks_total counter\nblocks_total{{chain=\"main\"}} {n}\n"),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

/// Waits until `check` holds, for at most ten seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_pod_is_scraped_with_prometheus_relabelling() {
    let (node, hits) = exporter().await;
    let (unwanted, unwanted_hits) = exporter().await;
    let api = FakeApi::start().await;
    let pod = |name: &str, port: u16, scrape: &str| {
        json!({
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"prometheus.io/scrape": scrape}},
            "spec": {"containers": [{"name": "node", "image": "node:1",
                                     "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1"}
        })
    };
    api.list(
        "/api/v1/namespaces/default/pods",
        "PodList",
        json!([
            pod("exporter-0", node.port(), "true"),
            pod("quiet-0", unwanted.port(), "false")
        ]),
    );
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:
  - job_name: kubernetes-pods
    scrape_interval: 100ms
    scrape_timeout: 100ms
    kubernetes_sd_configs:
      - role: pod
        api_server: http://{}
        namespaces:
          names: [default]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: 'true'
      - action: labelmap
        regex: __meta_kubernetes_pod_label_(.+)
      - source_labels: [__meta_kubernetes_namespace]
        action: replace
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        action: replace
        target_label: pod
",
            api.addr
        ),
        "test.yml",
    )
    .unwrap();
    assert!(manager.apply(&config).is_empty());
    let blocks = [Matcher::equal("__name__", "blocks_total")];
    let found = |store: &MemStorage| {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        let set = q.select(&SelectHints::default(), &blocks).unwrap();
        set.map(|series| series.unwrap().labels).collect::<Vec<_>>()
    };
    eventually("the discovered pod to be scraped", || {
        !found(&store).is_empty()
    })
    .await;
    let targets = manager.targets();
    assert_eq!(
        targets.len(),
        1,
        "the pod without the annotation is dropped"
    );
    assert_eq!(targets[0].status.health, Health::Up);
    assert_eq!(
        found(&store),
        [Labels::from_pairs([
            ("__name__", "blocks_total"),
            ("chain", "main"),
            ("instance", node.to_string().as_str()),
            ("job", "kubernetes-pods"),
            ("namespace", "default"),
            ("pod", "exporter-0"),
        ])]
    );
    assert_eq!(manager.dropped().len(), 1);
    assert!(hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(unwanted_hits.load(Ordering::SeqCst), 0);
    manager.stop().await;
}
