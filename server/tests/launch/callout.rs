//! The callout service loop the config-mode and operator-mode callout tests share: on
//! `$SYS.REQ.USER.AUTH`, open a sealed request (with `xkey`, from the server's curve key in
//! the `Nats-Server-Xkey` header), verify and decode the request JWT, report its claims on
//! `seen`, and reply with what `answer` makes of them (a signed response JWT; `None`:
//! silence), sealed back when the request was.
#![allow(dead_code)] // Not every test binary that includes `launch` runs a service.

use futures::StreamExt;
use serde_json::Value;

/// Subscribes `client` to the callout subject, waits until the server has the SUB, then
/// serves in a task until the connection ends.
pub async fn serve(
    client: &async_nats::Client,
    xkey: Option<nkeys::XKey>,
    seen: tokio::sync::mpsc::UnboundedSender<Value>,
    answer: impl Fn(&Value) -> Option<String> + Send + 'static,
) {
    let mut sub = client.subscribe("$SYS.REQ.USER.AUTH").await.unwrap();
    super::io::settle(client).await;
    let publisher = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let server_xkey = msg
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Server-Xkey"))
                .map(|v| v.as_str().to_string());
            let payload = match (&xkey, &server_xkey) {
                (Some(x), Some(s)) => {
                    let sender = nkeys::XKey::from_public_key(s).unwrap();
                    x.open(&msg.payload, &sender)
                        .expect("a request sealed to us")
                }
                (Some(_), None) => panic!("xkey configured but the request is not sealed"),
                _ => msg.payload.to_vec(),
            };
            let token = String::from_utf8_lossy(&payload).to_string();
            let jwt = natsd_core::jwt::decode(&token).expect("a request JWT we can verify");
            let claims: Value = serde_json::from_str(&jwt.payload).unwrap();
            let _ = seen.send(claims.clone());
            let Some(resp) = answer(&claims) else {
                continue;
            };
            let resp: Vec<u8> = match (&xkey, &server_xkey) {
                (Some(x), Some(s)) => {
                    let server = nkeys::XKey::from_public_key(s).unwrap();
                    x.seal(resp.as_bytes(), &server).unwrap()
                }
                _ => resp.into_bytes(),
            };
            if let Some(reply) = msg.reply {
                let _ = publisher.publish(reply, resp.into()).await;
                let _ = publisher.flush().await;
            }
        }
    });
}
