//! Test certificates from rcgen: a CA, and leaf certificates it signs, as PEM text. Every TLS
//! test (PostgreSQL's `sslmode`s, the exporter's own HTTPS) makes its PKI here.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

pub type Ca = CertifiedIssuer<'static, KeyPair>;

/// A self-signed CA named `name`; its certificate is `ca.pem()`.
pub fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate and key (PEM) signed by `issuer` for these subject alternative names
/// ("127.0.0.1" becomes an IP SAN; the first is also the common name), with the extended key
/// usage `usage` if given.
pub fn leaf(
    issuer: &Ca,
    sans: &[&str],
    usage: Option<ExtendedKeyUsagePurpose>,
) -> (String, String) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, sans[0]);
    params.extended_key_usages = usage.into_iter().collect();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}
