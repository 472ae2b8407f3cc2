//! `classpulse-hands`: a ClassPulse server that ships the hands module beside the activity and
//! writing modules — how a school adds its own module to its own binary.
//!
//! ```text
//! cargo run -p classpulse-example-hands -- [config.toml]
//! ```
//!
//! Settings come from the given file (the same `config.toml` as `classpulse serve`), else
//! the built-in defaults.

use anyhow::Context;
use classpulse_core::config::Config;
use classpulse_core::module::Module;
use classpulse_core::runtime::{Runtime, RuntimeOptions};
use classpulse_core::server;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match std::env::args_os().nth(1) {
        Some(path) => Config::load(path.as_ref())?,
        None => Config::default(),
    };
    let writing: classpulse_writing::WritingConfig = config.module("writing")?;
    let modules: Vec<Arc<dyn Module>> = vec![
        Arc::new(classpulse_reducers::ActivityModule::new(
            config.module("activity")?,
        )),
        Arc::new(classpulse_writing::WritingModule::new(writing)),
        Arc::new(classpulse_example_hands::HandsModule),
    ];
    let bind = config.server.bind.clone();
    let runtime = Runtime::start(RuntimeOptions::new(config, modules)).await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    let hub = classpulse_dashboards::Hub::start(runtime.clone()).await;
    let app = server::routes(runtime.clone()).merge(classpulse_dashboards::routes(hub));
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::serve(runtime, listener, app, stop).await?;
    Ok(())
}
