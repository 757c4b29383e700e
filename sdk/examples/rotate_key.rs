//! Rotate a runtime API key and hand its new secret to the next step of a pipeline (a secret
//! store, a deployment's environment).
//!
//! ```text
//! SMG_URL=http://gateway:30000 SMG_ADMIN_TOKEN=… \
//!     cargo run -p smg-sdk --example rotate_key -- <key-id-or-name> > new-secret
//! ```
//!
//! `POST /admin/api-keys/{id}/rotate` replaces the key's secret: the old one stops working
//! when the answer is sent, and the new one is shown only in that answer. So the example
//! checks that the new secret authenticates (`GET /admin/whoami`, which any role may call)
//! and prints it alone on stdout; everything else goes to stderr.

use std::process::ExitCode;

use color_eyre::eyre::{Result, WrapErr, bail};
use smg_sdk::{ApiKeyInfo, ApiKeys, Client};

const DEFAULT_URL: &str = "http://127.0.0.1:30000";
const USAGE: &str = "usage: rotate_key <key-id-or-name>";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, outermost context first: what a CI log should show.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target] = args.as_slice() else {
        bail!("{USAGE}");
    };
    let url = gateway_url();
    let client = client_for(&url, std::env::var("SMG_ADMIN_TOKEN").unwrap_or_default())?;
    let keys = client.keys();

    let key = find_key(&keys, target).await?;
    let rotated = keys
        .rotate(&key.id)
        .await
        .wrap_err_with(|| format!("cannot rotate key {} ({})", key.id, key.name))?;
    eprintln!(
        "rotated key {} ({}, role {}): new secret {}",
        rotated.id, key.name, key.role, rotated.masked_key
    );

    // The old secret is already dead: a new secret that does not work must be reported now,
    // while the admin who ran this can still rotate again.
    let check = client_for(&url, rotated.new_key.expose().to_string())?;
    let principal = check
        .whoami()
        .await
        .wrap_err("the gateway did not accept the new secret")?;
    eprintln!(
        "the new secret authenticates as {} (role {}, {})",
        principal.name.as_deref().unwrap_or(&principal.id),
        principal.role,
        principal.auth_method
    );
    println!("{}", rotated.new_key.expose());
    Ok(())
}

/// The key with this id, else the one key with this name.
async fn find_key(keys: &ApiKeys<'_>, target: &str) -> Result<ApiKeyInfo> {
    let list = keys.list().await.wrap_err("cannot list the API keys")?;
    if let Some(key) = list.keys.iter().find(|k| k.id == target) {
        return Ok(key.clone());
    }
    let named: Vec<&ApiKeyInfo> = list.keys.iter().filter(|k| k.name == target).collect();
    match named.as_slice() {
        [key] => Ok((*key).clone()),
        [] => bail!("no API key has the id or name `{target}`"),
        several => {
            let ids: Vec<&str> = several.iter().map(|k| k.id.as_str()).collect();
            bail!(
                "{} keys are named `{target}`; give one id: {}",
                several.len(),
                ids.join(", ")
            )
        }
    }
}

/// `SMG_URL`, or the default local gateway.
fn gateway_url() -> String {
    std::env::var("SMG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// A client of `url` that sends `token` on control-plane routes (empty: no credential).
fn client_for(url: &str, token: String) -> Result<Client> {
    Client::builder(url)
        .admin_token(token)
        .build()
        .wrap_err_with(|| format!("SMG_URL `{url}` is not a gateway URL"))
}
