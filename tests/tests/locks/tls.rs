//! TLS against a real `redis-server --tls-port`, with certificates made at
//! test time (rcgen): `rediss://` works with the CA given, fails with a
//! typed error without it, and mutual TLS works with a client identity
//! (and fails without one).
#![cfg(feature = "tls")]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use redis_debounce::{Busy, Debouncer, Error, debounce};
use redis_debounce_tests::{RedisServer, TempDir, free_port, temp_dir};

#[debounce(key = "pay:{id}", ttl = 30, using = debouncer)]
async fn pay(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

#[debounce(key = "pay:{id}", ttl = 30, using = debouncer)]
fn pay_sync(debouncer: &Debouncer, id: u32) -> Result<u32, Busy> {
    Ok(id)
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as
/// files for redis-server; the CA and the client's identity as PEM.
struct Certificates {
    dir: TempDir,
    ca: String,
    client_cert: String,
    client_key: String,
}

fn certificates() -> Certificates {
    // Distinct names: a certificate whose subject is its issuer's name
    // reads as self-signed to OpenSSL.
    let named = |names: Vec<String>, name: &str| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params
    };
    let mut ca_params = named(Vec::new(), "test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = named(
        vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        "test server",
    )
    .signed_by(&server_key, &ca)
    .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = named(Vec::new(), "test client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca).unwrap();
    let dir = temp_dir("tls");
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    Certificates {
        dir,
        ca: ca.pem(),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
    }
}

/// A server on a Unix socket (for the harness) and on a TLS port.
fn tls_server(certs: &Certificates, auth_clients: bool) -> (RedisServer, String) {
    let port = free_port().to_string();
    let file = |name: &str| certs.dir.join(name).display().to_string();
    let server = RedisServer::start_with(&[
        "--tls-port",
        &port,
        "--tls-cert-file",
        &file("server.crt"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.crt"),
        "--tls-auth-clients",
        if auth_clients { "yes" } else { "no" },
    ]);
    (server, format!("rediss://127.0.0.1:{port}/"))
}

fn assert_refused(answer: Result<u32, Busy>) {
    let busy = answer.expect_err("the handshake fails");
    assert!(!busy.is_held(), "{busy}");
    assert!(
        matches!(busy.error(), Some(Error::Connection { .. })),
        "{busy:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_works_with_the_ca_and_is_refused_without_it() {
    let certs = certificates();
    let (_server, url) = tls_server(&certs, false);
    let trusted = Debouncer::builder()
        .tls_ca(certs.ca.clone())
        .open(&url)
        .unwrap();
    assert_eq!(pay(&trusted, 1).await.unwrap(), 1);
    trusted.flush().await.unwrap();
    let sync_trusted = trusted.clone();
    let sync = tokio::task::spawn_blocking(move || pay_sync(&sync_trusted, 2));
    assert_eq!(sync.await.unwrap().unwrap(), 2);
    // The public roots do not know this CA: a typed error, never "held".
    let untrusting = Debouncer::open(&url).unwrap();
    assert_refused(pay(&untrusting, 3).await);
    // Certificates for a URL that is not rediss:// are a mistake.
    let err = Debouncer::builder()
        .tls_ca(certs.ca.clone())
        .open("redis://127.0.0.1/")
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_works_with_a_client_identity() {
    let certs = certificates();
    let (_server, url) = tls_server(&certs, true);
    let builder = Debouncer::builder().tls_ca(certs.ca.clone());
    let with_identity = builder
        .clone()
        .tls_client_identity(certs.client_cert.clone(), certs.client_key.clone());
    let debug = format!("{with_identity:?}");
    assert!(
        !debug.contains("PRIVATE KEY"),
        "the key shows in Debug: {debug}"
    );
    // Shown by its size only.
    let size = format!("<PEM, {} bytes>", certs.client_key.len());
    assert!(debug.contains(&size), "{debug}");
    let identified = with_identity.open(&url).unwrap();
    assert_eq!(pay(&identified, 1).await.unwrap(), 1);
    let anonymous = builder.open(&url).unwrap();
    assert_refused(pay(&anonymous, 2).await);
}
