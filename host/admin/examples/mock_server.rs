//! The admin API over the in-memory mock backend, for trying the API with
//! curl or fuzzing it with schemathesis without a running route server.
//!
//! `cargo run -p kumo-admin --example mock_server -- 127.0.0.1:8179 TOKEN`
//! (stops on Ctrl-C).

use std::sync::Arc;

use kumo_admin::mock::MockBackend;
use kumo_admin::{AdminOptions, AdminServer, Metrics};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8179".to_owned())
        .parse()?;
    let token = args.next();
    let options = AdminOptions {
        listen,
        token,
        ..AdminOptions::default()
    };
    let server = AdminServer::new(
        options,
        Arc::new(MockBackend::sample()),
        Arc::new(Metrics::default()),
    );
    println!("mock admin API on http://{listen}/api/v1/openapi.json");
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
