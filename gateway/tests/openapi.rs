#![allow(clippy::unwrap_used, clippy::expect_used)]
use smg_gateway::{Gateway, GatewayConfig};

#[tokio::test]
async fn scratch() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(GatewayConfig {
        port: 0,
        prometheus_port: 0,
        store: dir.path().join("o.db"),
        enable_wasm: true,
        ..GatewayConfig::default()
    })
    .await
    .unwrap();
    let (router, doc) = smg_gateway::routes::router_and_document(gw.state.clone());
    std::fs::write("/tmp/router_debug.txt", format!("{router:#?}")).unwrap();
    std::fs::write(
        "/tmp/openapi.json",
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
}
