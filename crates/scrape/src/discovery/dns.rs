//! `dns_sd_configs`: Prometheus's DNS service discovery.
//!
//! Each refresh looks every name up (SRV, A, AAAA or MX) and makes one target per answer
//! record, labelled `__meta_dns_name` and, for SRV and MX, the record's target and port.
//! The lookup is Prometheus 2.42's own, not the system resolver's: the nameservers,
//! search list and `ndots` are read from `/etc/resolv.conf` at each lookup (as Go's
//! `miekg/dns` reads them), each name of the search list is asked of each nameserver in
//! turn over UDP with EDNS0, again over TCP when the answer is truncated. A name
//! answered by some server is done; one every server calls non-existent (NXDOMAIN) for
//! every search name has no targets; otherwise the lookup fails and the name keeps the
//! targets it had, as Prometheus's discovery manager keeps a source's last group.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::{Provider, Refresh, join_host_port};
use crate::config::{DnsSdConfig, StaticConfig};

/// Where Prometheus (Go's `miekg/dns`) reads the resolver's configuration.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// How long one exchange with a nameserver may take: `miekg/dns`'s default.
const EXCHANGE_TIMEOUT: StdDuration = StdDuration::from_secs(2);

/// The EDNS0 UDP payload size asked for: `miekg/dns`'s `DefaultMsgSize`.
const UDP_PAYLOAD: u16 = 4096;

/// The resolver settings Prometheus takes from `resolv.conf`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvConf {
    /// The nameservers' addresses, as written.
    pub(crate) servers: Vec<String>,
    /// The port every nameserver is asked on (53; tests point it elsewhere).
    pub(crate) port: u16,
    /// The search list.
    pub(crate) search: Vec<String>,
    /// A name with more labels than this is tried as written before the search list.
    pub(crate) ndots: usize,
}

impl ResolvConf {
    /// Reads `resolv.conf` text as `miekg/dns`'s `ClientConfigFromReader` does:
    /// `nameserver`, `domain` (a search list of one), `search` and `options ndots:N`
    /// (clamped to 0..=15); everything else is ignored.
    pub(crate) fn parse(text: &str) -> Self {
        let mut conf = Self {
            servers: Vec::new(),
            port: 53,
            search: Vec::new(),
            ndots: 1,
        };
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["nameserver", server, ..] => conf.servers.push((*server).to_owned()),
                ["domain", domain, ..] => conf.search = vec![(*domain).to_owned()],
                ["domain"] => conf.search.clear(),
                ["search", domains @ ..] => {
                    conf.search = domains.iter().map(|d| (*d).to_owned()).collect();
                }
                ["options", options @ ..] => {
                    for option in options {
                        if let Some(n) = option.strip_prefix("ndots:") {
                            // Go's Atoi: a bad number reads as 0.
                            conf.ndots = n.parse::<i64>().unwrap_or(0).clamp(0, 15) as usize;
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// The names to ask for `name`, in order, as `miekg/dns`'s `NameList`: a fully
    /// qualified name alone; otherwise the name with each search domain, and the name
    /// itself first if it has more than `ndots` labels, else last.
    pub(crate) fn name_list(&self, name: &str) -> Vec<String> {
        if is_fqdn(name) {
            return vec![name.to_owned()];
        }
        let has_ndots = count_labels(name) > self.ndots;
        let name = fqdn(name);
        let mut names = Vec::new();
        if has_ndots {
            names.push(name.clone());
        }
        for s in &self.search {
            names.push(fqdn(&format!("{name}{s}")));
        }
        if !has_ndots {
            names.push(name);
        }
        names
    }
}

fn is_fqdn(name: &str) -> bool {
    name.ends_with('.')
}

fn fqdn(name: &str) -> String {
    if is_fqdn(name) {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

fn count_labels(name: &str) -> usize {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        0
    } else {
        name.split('.').count()
    }
}

/// Where the resolver's settings come from.
enum Resolver {
    /// `/etc/resolv.conf`, read at each lookup.
    System,
    /// Fixed settings: tests point the provider at their own nameserver.
    #[cfg(test)]
    Fixed(ResolvConf),
}

/// `dns_sd_configs`: targets from DNS records.
pub(super) struct DnsSd {
    name: String,
    names: Vec<String>,
    kind: RecordType,
    port: u16,
    interval: StdDuration,
    resolver: Resolver,
    /// Each name's targets from its last successful lookup.
    last: Mutex<HashMap<String, Vec<StaticConfig>>>,
}

impl DnsSd {
    pub(super) fn new(n: usize, config: &DnsSdConfig) -> Self {
        let kind = match config.kind.to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "MX" => RecordType::MX,
            _ => RecordType::SRV,
        };
        Self {
            name: format!("dns_sd_configs[{n}]"),
            names: config.names.clone(),
            kind,
            port: config.port,
            interval: config.refresh_interval.std(),
            resolver: Resolver::System,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// A provider that asks the nameservers of `resolv` rather than the system's.
    #[cfg(test)]
    pub(crate) fn with_resolver(n: usize, config: &DnsSdConfig, resolv: ResolvConf) -> Self {
        Self {
            resolver: Resolver::Fixed(resolv),
            ..Self::new(n, config)
        }
    }

    /// The targets of one name.
    async fn lookup(&self, name: &str) -> Result<Vec<StaticConfig>, String> {
        let conf = match &self.resolver {
            #[cfg(test)]
            Resolver::Fixed(conf) => conf.clone(),
            Resolver::System => std::fs::read_to_string(RESOLV_CONF)
                .map(|text| ResolvConf::parse(&text))
                .map_err(|e| format!("could not load resolv.conf: {RESOLV_CONF}: {e}"))?,
        };
        let answer = lookup_with_search_path(name, self.kind, &conf).await?;
        let mut out = Vec::new();
        for record in &answer.answers {
            let (address, srv_target, srv_port, mx_target) = match &record.data {
                RData::SRV(srv) => {
                    let target = srv.target.to_ascii();
                    let host = target.trim_end_matches('.');
                    (
                        join_host_port(host, srv.port),
                        target.clone(),
                        srv.port.to_string(),
                        String::new(),
                    )
                }
                RData::MX(mx) => {
                    let target = mx.exchange.to_ascii();
                    let host = target.trim_end_matches('.');
                    (
                        join_host_port(host, self.port),
                        String::new(),
                        String::new(),
                        target.clone(),
                    )
                }
                RData::A(a) => (
                    join_host_port(&a.0.to_string(), self.port),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
                RData::AAAA(aaaa) => {
                    // As Go writes an IPv4-mapped address: as IPv4.
                    let ip = aaaa
                        .0
                        .to_ipv4_mapped()
                        .map_or_else(|| aaaa.0.to_string(), |v4| v4.to_string());
                    (
                        join_host_port(&ip, self.port),
                        String::new(),
                        String::new(),
                        String::new(),
                    )
                }
                // An A or AAAA lookup may be answered through a CNAME.
                RData::CNAME(_) => continue,
                other => {
                    tracing::warn!(provider = %self.name, %name, record = ?other, "invalid record in a DNS answer");
                    continue;
                }
            };
            out.push(StaticConfig {
                targets: vec![address],
                labels: [
                    ("__meta_dns_name", name.to_owned()),
                    ("__meta_dns_srv_record_target", srv_target),
                    ("__meta_dns_srv_record_port", srv_port),
                    ("__meta_dns_mx_record_target", mx_target),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            });
        }
        Ok(out)
    }

    /// Every name's targets: looked up now, or kept from before where the lookup failed.
    /// Fails only when every lookup failed, so the manager keeps all and counts it.
    async fn targets(&self) -> Result<Vec<StaticConfig>, String> {
        let results =
            futures_util::future::join_all(self.names.iter().map(|n| self.lookup(n))).await;
        let mut last = self.last.lock().map_err(|_| "poisoned lock".to_owned())?;
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (name, result) in self.names.iter().zip(results) {
            match result {
                Ok(targets) => {
                    out.extend(targets.iter().cloned());
                    last.insert(name.clone(), targets);
                }
                Err(e) => {
                    tracing::warn!(provider = %self.name, %name, error = %e, "DNS lookup failed; keeping the name's previous targets");
                    out.extend(last.get(name).into_iter().flatten().cloned());
                    errors.push(e);
                }
            }
        }
        if !errors.is_empty() && errors.len() == self.names.len() {
            return Err(errors.join("; "));
        }
        Ok(out)
    }
}

impl Provider for DnsSd {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(self.targets())
    }
}

/// Asks for `name` with each name of the search list: the first one answered wins; all
/// of them non-existent is an empty answer; otherwise an error.
async fn lookup_with_search_path(
    name: &str,
    kind: RecordType,
    conf: &ResolvConf,
) -> Result<Message, String> {
    let mut all_valid = true;
    for candidate in conf.name_list(name) {
        match lookup_from_any_server(&candidate, kind, conf).await {
            Ok(answer) if answer.metadata.response_code == ResponseCode::NoError => {
                return Ok(answer);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(%candidate, error = %e, "DNS lookup failed");
                all_valid = false;
            }
        }
    }
    if all_valid {
        Ok(Message::response(0, hickory_proto::op::OpCode::Query))
    } else {
        Err(format!(
            "could not resolve {name:?}: all servers responded with errors to at least one search domain"
        ))
    }
}

/// Asks each nameserver in turn until one answers with records, no records, or that the
/// name does not exist.
async fn lookup_from_any_server(
    name: &str,
    kind: RecordType,
    conf: &ResolvConf,
) -> Result<Message, String> {
    for server in &conf.servers {
        let answer = match server.parse::<IpAddr>() {
            Ok(ip) => ask(name, kind, SocketAddr::new(ip, conf.port)).await,
            Err(_) => Err(format!("nameserver {server:?} is not an IP address")),
        };
        match answer {
            Ok(answer)
                if matches!(
                    answer.metadata.response_code,
                    ResponseCode::NoError | ResponseCode::NXDomain
                ) =>
            {
                return Ok(answer);
            }
            Ok(answer) => {
                tracing::warn!(%server, %name, code = %answer.metadata.response_code, "DNS server answered with an error");
            }
            Err(e) => tracing::warn!(%server, %name, error = %e, "DNS resolution failed"),
        }
    }
    Err(format!(
        "could not resolve {name}: no servers returned a viable answer"
    ))
}

/// One question to one server: over UDP with EDNS0, and over TCP if the answer was
/// truncated.
async fn ask(name: &str, kind: RecordType, server: SocketAddr) -> Result<Message, String> {
    let question = |edns: bool| -> Result<Message, String> {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        let qname = Name::from_ascii(fqdn(name)).map_err(|e| format!("{name:?}: {e}"))?;
        message.add_query(Query::query(qname, kind));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(UDP_PAYLOAD);
            message.set_edns(e);
        }
        Ok(message)
    };
    let answer = exchange_udp(&question(true)?, server).await?;
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let answer = exchange_tcp(&question(false)?, server).await?;
    if answer.metadata.truncation {
        return Err("got truncated message on TCP (64kiB limit exceeded?)".into());
    }
    Ok(answer)
}

fn check_answer(query: &Message, bytes: &[u8]) -> Result<Message, String> {
    let answer = Message::from_vec(bytes).map_err(|e| format!("a malformed answer: {e}"))?;
    if answer.metadata.id != query.metadata.id
        || answer.metadata.message_type != MessageType::Response
    {
        return Err("an answer that is not to the question asked".into());
    }
    Ok(answer)
}

async fn exchange_udp(query: &Message, server: SocketAddr) -> Result<Message, String> {
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    let exchange = async {
        socket.send(&bytes).await?;
        let mut buf = vec![0; 65_535];
        let n = socket.recv(&mut buf).await?;
        buf.truncate(n);
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("udp {server}: no answer within {EXCHANGE_TIMEOUT:?}"))?
        .map_err(|e| format!("udp {server}: {e}"))?;
    check_answer(query, &buf)
}

async fn exchange_tcp(query: &Message, server: SocketAddr) -> Result<Message, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let length = u16::try_from(bytes.len()).map_err(|_| "a question too long".to_owned())?;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        let mut framed = length.to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await?;
        let mut length = [0; 2];
        stream.read_exact(&mut length).await?;
        let mut buf = vec![0; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("tcp {server}: no answer within {EXCHANGE_TIMEOUT:?}"))?
        .map_err(|e| format!("tcp {server}: {e}"))?;
    check_answer(query, &buf)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use hickory_proto::op::OpCode;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SRV};

    use super::*;
    use crate::config::Duration;

    /// The fake zone: the answer to a question, over UDP or TCP; `failing` makes
    /// `flaky.example.com.` answer SERVFAIL.
    fn answer(query: &Message, tcp: bool, failing: bool) -> Message {
        let q = query.queries[0].clone();
        let mut r = Message::response(query.metadata.id, OpCode::Query);
        r.add_query(q.clone());
        let name = |s: &str| Name::from_ascii(s).unwrap();
        let record = |data: RData| Record::from_rdata(q.name().clone(), 60, data);
        match (q.name().to_ascii().as_str(), q.query_type()) {
            ("_node._tcp.example.com.", RecordType::SRV) => {
                r.add_answer(record(RData::SRV(SRV::new(
                    0,
                    0,
                    9100,
                    name("node1.example.com."),
                ))));
                r.add_answer(record(RData::SRV(SRV::new(
                    0,
                    0,
                    9101,
                    name("node2.example.com."),
                ))));
            }
            ("web.example.com.", RecordType::A) => {
                r.add_answer(record(RData::CNAME(CNAME(name("www.example.com.")))));
                r.add_answer(record(RData::A(A("10.0.0.1".parse().unwrap()))));
            }
            ("web.example.com.", RecordType::AAAA) => {
                r.add_answer(record(RData::AAAA(AAAA("fd00::1".parse().unwrap()))));
            }
            ("example.com.", RecordType::MX) => {
                r.add_answer(record(RData::MX(MX::new(10, name("mail.example.com.")))));
            }
            ("big.example.com.", RecordType::A) if !tcp => r.metadata.truncation = true,
            ("big.example.com.", RecordType::A) => {
                r.add_answer(record(RData::A(A("10.0.0.9".parse().unwrap()))));
            }
            ("api.svc.example.", RecordType::A) => {
                r.add_answer(record(RData::A(A("10.0.0.3".parse().unwrap()))));
            }
            ("flaky.example.com.", RecordType::A) if failing => {
                r.metadata.response_code = ResponseCode::ServFail;
            }
            ("flaky.example.com.", RecordType::A) => {
                r.add_answer(record(RData::A(A("10.0.0.4".parse().unwrap()))));
            }
            _ => r.metadata.response_code = ResponseCode::NXDomain,
        }
        r
    }

    /// A nameserver on loopback answering from [`answer`] over UDP and TCP on one port.
    async fn nameserver(failing: Arc<AtomicBool>) -> u16 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        // UDP and TCP need the same port: take a free UDP port and try its TCP twin,
        // again with another port if that one is taken.
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
                break (udp, tcp);
            }
        };
        let port = udp.local_addr().unwrap().port();
        let flag = failing.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 4096];
            loop {
                let (n, from) = udp.recv_from(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf[..n]).unwrap();
                assert!(query.metadata.recursion_desired);
                assert_eq!(query.edns.as_ref().unwrap().max_payload(), UDP_PAYLOAD);
                let r = answer(&query, false, flag.load(Ordering::SeqCst));
                udp.send_to(&r.to_vec().unwrap(), from).await.unwrap();
            }
        });
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = tcp.accept().await.unwrap();
                let mut length = [0; 2];
                stream.read_exact(&mut length).await.unwrap();
                let mut buf = vec![0; usize::from(u16::from_be_bytes(length))];
                stream.read_exact(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf).unwrap();
                let bytes = answer(&query, true, failing.load(Ordering::SeqCst))
                    .to_vec()
                    .unwrap();
                let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                stream.write_all(&framed).await.unwrap();
            }
        });
        port
    }

    fn sd(names: &[&str], kind: &str, port: u16, resolv: ResolvConf) -> DnsSd {
        let config = DnsSdConfig {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            refresh_interval: Duration(30_000),
            kind: kind.into(),
            port,
        };
        DnsSd::with_resolver(0, &config, resolv)
    }

    fn resolv(port: u16) -> ResolvConf {
        ResolvConf {
            servers: vec!["127.0.0.1".into()],
            port,
            search: vec!["svc.example".into()],
            ndots: 1,
        }
    }

    fn group(address: &str, name: &str, srv: (&str, &str), mx: &str) -> StaticConfig {
        StaticConfig {
            targets: vec![address.into()],
            labels: BTreeMap::from([
                ("__meta_dns_name".into(), name.into()),
                ("__meta_dns_srv_record_target".into(), srv.0.into()),
                ("__meta_dns_srv_record_port".into(), srv.1.into()),
                ("__meta_dns_mx_record_target".into(), mx.into()),
            ]),
        }
    }

    #[tokio::test]
    async fn each_record_type_gives_prometheus_targets_and_labels() {
        let port = nameserver(Arc::new(AtomicBool::new(false))).await;
        let srv = sd(&["_node._tcp.example.com"], "SRV", 0, resolv(port));
        assert_eq!(srv.name(), "dns_sd_configs[0]");
        assert_eq!(
            srv.refresh().await.unwrap(),
            [
                group(
                    "node1.example.com:9100",
                    "_node._tcp.example.com",
                    ("node1.example.com.", "9100"),
                    ""
                ),
                group(
                    "node2.example.com:9101",
                    "_node._tcp.example.com",
                    ("node2.example.com.", "9101"),
                    ""
                ),
            ]
        );
        // The CNAME an A lookup is answered through is skipped.
        let a = sd(&["web.example.com"], "a", 9090, resolv(port));
        assert_eq!(
            a.refresh().await.unwrap(),
            [group("10.0.0.1:9090", "web.example.com", ("", ""), "")]
        );
        let aaaa = sd(&["web.example.com"], "AAAA", 9090, resolv(port));
        assert_eq!(
            aaaa.refresh().await.unwrap(),
            [group("[fd00::1]:9090", "web.example.com", ("", ""), "")]
        );
        let mx = sd(&["example.com."], "MX", 25, resolv(port));
        assert_eq!(
            mx.refresh().await.unwrap(),
            [group(
                "mail.example.com:25",
                "example.com.",
                ("", ""),
                "mail.example.com."
            )]
        );
    }

    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        let port = nameserver(Arc::new(AtomicBool::new(false))).await;
        let big = sd(&["big.example.com"], "A", 80, resolv(port));
        assert_eq!(
            big.refresh().await.unwrap(),
            [group("10.0.0.9:80", "big.example.com", ("", ""), "")]
        );
    }

    #[tokio::test]
    async fn the_search_list_is_tried_and_a_name_that_does_not_exist_has_no_targets() {
        let port = nameserver(Arc::new(AtomicBool::new(false))).await;
        let api = sd(&["api", "nothing.here"], "A", 80, resolv(port));
        assert_eq!(
            api.refresh().await.unwrap(),
            [group("10.0.0.3:80", "api", ("", ""), "")]
        );
    }

    #[tokio::test]
    async fn a_failing_name_keeps_its_targets_and_only_all_failing_fails_the_refresh() {
        let failing = Arc::new(AtomicBool::new(false));
        let port = nameserver(failing.clone()).await;
        let both = sd(
            &["flaky.example.com", "web.example.com"],
            "A",
            80,
            resolv(port),
        );
        let before = both.refresh().await.unwrap();
        assert_eq!(
            before,
            [
                group("10.0.0.4:80", "flaky.example.com", ("", ""), ""),
                group("10.0.0.1:80", "web.example.com", ("", ""), ""),
            ]
        );
        failing.store(true, Ordering::SeqCst);
        assert_eq!(both.refresh().await.unwrap(), before);
        let alone = sd(&["flaky.example.com"], "A", 80, resolv(port));
        let e = alone.refresh().await.unwrap_err();
        assert_eq!(
            e,
            "could not resolve \"flaky.example.com\": all servers responded with errors to at least one search domain"
        );
    }

    #[test]
    fn resolv_conf_is_read_as_go_reads_it() {
        let conf = ResolvConf::parse(
            "# generated\nnameserver 10.0.0.53\nnameserver fd00::53 # second\nsearch a.example b.example\noptions ndots:20 timeout:1\nbogus line\n",
        );
        assert_eq!(
            conf,
            ResolvConf {
                servers: vec!["10.0.0.53".into(), "fd00::53".into()],
                port: 53,
                search: vec!["a.example".into(), "b.example".into()],
                ndots: 15,
            }
        );
        let domain = ResolvConf::parse("search a b\ndomain c\noptions ndots:x\n");
        assert_eq!(domain.search, ["c"]);
        assert_eq!(domain.ndots, 0);
    }

    #[test]
    fn names_are_tried_with_the_search_list_as_miekg_dns_orders_them() {
        let conf = ResolvConf {
            servers: vec![],
            port: 53,
            search: vec!["svc".into(), "example.com.".into()],
            ndots: 1,
        };
        assert_eq!(conf.name_list("db."), ["db."]);
        assert_eq!(conf.name_list("db"), ["db.svc.", "db.example.com.", "db."]);
        assert_eq!(
            conf.name_list("db.prod"),
            ["db.prod.", "db.prod.svc.", "db.prod.example.com."]
        );
    }
}
