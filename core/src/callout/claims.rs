//! The authorization request's claims, field for field as nats-io/jwt v2 writes them
//! (`AuthorizationRequestClaims`), so services written with Go's or any other NATS
//! library read ours unchanged.

use serde_json::{json, Map, Value};

/// Everything a request says, gathered by the connection and the server.
#[derive(Debug, Clone, Default)]
pub struct RequestInput {
    /// `sub`: the configured issuer (config mode).
    pub subject: String,
    /// The server: name, host, id, version, cluster.
    pub server_name: String,
    /// Client listen host.
    pub server_host: String,
    /// Server id (its public nkey).
    pub server_id: String,
    /// Cluster name, if clustered.
    pub cluster: String,
    /// The fresh user nkey the response must name.
    pub user_nkey: String,
    /// The client's IP.
    pub client_host: String,
    /// Its connection id.
    pub client_id: u64,
    /// CONNECT as the client sent it (the fields Go passes on).
    pub connect: crate::info::ConnectJson,
    /// The nonce it signed, when it sent a signature.
    pub nonce: String,
    /// Its TLS session: version and suite, Go's names.
    pub tls: Option<(String, String)>,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`: `iat` plus the auth timeout, as Go.
    pub expires: i64,
    /// The server's curve key, when requests are sealed (`server_id.xkey`).
    pub server_xkey: String,
}

fn put(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.into(), Value::String(v.into()));
    }
}

/// The request's claims, ready for [`crate::jwt::encode`] with the server's key.
pub fn request_claims(r: &RequestInput) -> Value {
    let mut server = Map::new();
    server.insert("name".into(), json!(r.server_name));
    server.insert("host".into(), json!(r.server_host));
    server.insert("id".into(), json!(r.server_id));
    put(&mut server, "version", crate::VERSION);
    put(&mut server, "cluster", &r.cluster);
    put(&mut server, "xkey", &r.server_xkey);

    let c = &r.connect;
    let mut client = Map::new();
    put(&mut client, "host", &r.client_host);
    if r.client_id != 0 {
        client.insert("id".into(), json!(r.client_id));
    }
    put(&mut client, "user", c.user.as_deref().unwrap_or_default());
    put(&mut client, "name", c.name.as_deref().unwrap_or_default());
    put(&mut client, "kind", "Client");
    put(&mut client, "type", "nats");
    if c.sig.is_some() {
        put(&mut client, "nonce", &r.nonce);
    }

    let mut opts = Map::new();
    put(&mut opts, "jwt", c.jwt.as_deref().unwrap_or_default());
    put(&mut opts, "nkey", c.nkey.as_deref().unwrap_or_default());
    put(&mut opts, "sig", c.sig.as_deref().unwrap_or_default());
    put(
        &mut opts,
        "auth_token",
        c.auth_token.as_deref().unwrap_or_default(),
    );
    put(&mut opts, "user", c.user.as_deref().unwrap_or_default());
    put(&mut opts, "pass", c.pass.as_deref().unwrap_or_default());
    put(&mut opts, "name", c.name.as_deref().unwrap_or_default());
    put(&mut opts, "lang", c.lang.as_deref().unwrap_or_default());
    put(
        &mut opts,
        "version",
        c.version.as_deref().unwrap_or_default(),
    );
    opts.insert("protocol".into(), json!(c.protocol.unwrap_or(0)));

    let mut nats = Map::new();
    nats.insert("server_id".into(), Value::Object(server));
    nats.insert("user_nkey".into(), json!(r.user_nkey));
    nats.insert("client_info".into(), Value::Object(client));
    nats.insert("connect_opts".into(), Value::Object(opts));
    if let Some((version, cipher)) = &r.tls {
        let mut tls = Map::new();
        put(&mut tls, "version", version);
        put(&mut tls, "cipher", cipher);
        nats.insert("client_tls".into(), Value::Object(tls));
    }
    nats.insert("type".into(), json!("authorization_request"));
    nats.insert("version".into(), json!(2));

    json!({
        "aud": super::REQUEST_AUDIENCE,
        "exp": r.expires,
        "iat": r.issued_at,
        "sub": r.subject,
        "nats": Value::Object(nats),
    })
}
