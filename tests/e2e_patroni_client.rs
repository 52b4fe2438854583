//! The Patroni REST client (src/sources/patroni/client.rs) against real Patroni 3.0.2 and 4.x:
//! every endpoint of every member over HTTP, each member's `api_url` from `/cluster` usable as
//! a seed, and HTTPS with `verify_client: required` (a CA made here with rcgen): refused without
//! the client certificate or with another CA, answered with them.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{PATRONI_WAIT, PatroniBin, PatroniCluster, RestTls};
use pg_replication_exporter::sources::patroni::api::{self, Role};
use pg_replication_exporter::sources::patroni::client::{
    ApiBase, ClientSettings, FetchErrorKind, PatroniClient,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn plain_http(bin: PatroniBin) {
    let version = bin.version.clone();
    let c = PatroniCluster::builder(bin).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let client = PatroniClient::new(&ClientSettings::default()).unwrap();
    let rt = rt();
    // The harness's own raw GET, parsed, is the ground truth.
    let truth = api::parse_cluster(c.get(&leader, "/cluster").unwrap().1.as_bytes()).unwrap();
    for m in c.members() {
        let base = ApiBase::parse(&c.api_url(m.name())).unwrap();
        let (status, p) = rt.block_on(client.patroni(&base)).unwrap();
        assert_eq!(status, 200, "{}", m.name());
        assert_eq!(p.version.as_deref(), Some(version.as_str()));
        assert_eq!(p.role == Some(Role::Leader), m.name() == leader, "{p:?}");
        let cluster = rt.block_on(client.cluster(&base)).unwrap();
        let names = |c: &api::ClusterStatus| -> Vec<(Option<String>, Option<Role>)> {
            c.members
                .iter()
                .map(|m| (m.name.clone(), m.role.clone()))
                .collect()
        };
        assert_eq!(names(&cluster), names(&truth), "{}", m.name());
        let cfg = rt.block_on(client.config(&base)).unwrap();
        assert_eq!(cfg.ttl, Some(20));
        let history = rt.block_on(client.history(&base)).unwrap();
        assert!(history.entries.is_empty() && history.malformed == 0);
    }
    // Every member's api_url (".../patroni") is a seed.
    for m in &truth.members {
        let base = ApiBase::parse(m.api_url.as_deref().unwrap()).unwrap();
        let (_, p) = rt.block_on(client.patroni(&base)).unwrap();
        assert_eq!(p.timeline, m.timeline);
    }
}

#[test]
fn client_reads_every_endpoint_of_patroni_3() {
    plain_http(PatroniBin::debian());
}

#[test]
fn client_reads_every_endpoint_of_patroni_4() {
    plain_http(PatroniBin::v4());
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usage: Vec<ExtendedKeyUsagePurpose>,
) -> (String, String) {
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = usage;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn https_with_client_certificate(bin: PatroniBin) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca1 = ca("patroni test CA");
    let other = ca("another CA");
    // Patroni's member-to-member calls present the client certificate to the other members'
    // servers, so it serves both purposes.
    let (server_cert, server_key) =
        leaf(&ca1, "127.0.0.1", vec![ExtendedKeyUsagePurpose::ServerAuth]);
    let (client_cert, client_key) = leaf(
        &ca1,
        "replication_exporter",
        vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ],
    );
    let (other_cert, other_key) = leaf(
        &other,
        "intruder",
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    let tls = RestTls {
        ca: write(d, "ca.crt", &ca1.pem()),
        cert: write(d, "server.crt", &server_cert),
        key: write(d, "server.key", &server_key),
        client_cert: write(d, "client.crt", &client_cert),
        client_key: write(d, "client.key", &client_key),
    };
    let other_ca = write(d, "other-ca.crt", &other.pem());
    let other_cert = write(d, "other.crt", &other_cert);
    let other_key = write(d, "other.key", &other_key);

    let c = PatroniCluster::builder(bin)
        .members(2)
        .rest_tls(tls.clone())
        .start();
    let leader = c.wait_healthy(1, PATRONI_WAIT);
    let base = ApiBase::parse(&c.api_url(&leader)).unwrap();
    let rt = rt();
    let settings = ClientSettings {
        timeout: Duration::from_secs(5),
        cafile: Some(tls.ca.clone()),
        certfile: Some(tls.client_cert.clone()),
        keyfile: Some(tls.client_key.clone()),
        ..ClientSettings::default()
    };
    let good = PatroniClient::new(&settings).unwrap();
    let cluster = rt.block_on(good.cluster(&base)).unwrap();
    assert_eq!(cluster.members.len(), 2);
    assert!(
        cluster.members[0]
            .api_url
            .as_deref()
            .unwrap()
            .starts_with("https://")
    );
    let (status, p) = rt.block_on(good.patroni(&base)).unwrap();
    assert_eq!((status, p.role), (200, Some(Role::Leader)));

    // No client certificate: the handshake (or the first read) is refused.
    let no_cert = PatroniClient::new(&ClientSettings {
        certfile: None,
        keyfile: None,
        ..settings.clone()
    })
    .unwrap();
    let e = rt.block_on(no_cert.cluster(&base)).unwrap_err();
    assert!(matches!(e.kind, FetchErrorKind::Transport(_)), "{e}");
    // A client certificate of another CA: refused too.
    let intruder = PatroniClient::new(&ClientSettings {
        certfile: Some(other_cert),
        keyfile: Some(other_key),
        ..settings.clone()
    })
    .unwrap();
    let e = rt.block_on(intruder.cluster(&base)).unwrap_err();
    assert!(matches!(e.kind, FetchErrorKind::Transport(_)), "{e}");
    // Trusting another CA: the server's certificate is refused.
    let wrong_ca = PatroniClient::new(&ClientSettings {
        cafile: Some(other_ca),
        ..settings.clone()
    })
    .unwrap();
    let e = rt
        .block_on(wrong_ca.cluster(&base))
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // Plain HTTP to the HTTPS port gets nothing usable either.
    let plain = ApiBase::parse(&c.api_url(&leader).replace("https://", "http://")).unwrap();
    assert!(rt.block_on(good.cluster(&plain)).is_err());
}

#[test]
fn https_with_client_certificate_on_patroni_3() {
    https_with_client_certificate(PatroniBin::debian());
}

#[test]
fn https_with_client_certificate_on_patroni_4() {
    https_with_client_certificate(PatroniBin::v4());
}
