//! `embudo keys create|list|revoke`.

use crate::settings::Settings;
use anyhow::bail;
use chrono::Utc;
use clap::Subcommand;
use embudo_store::{KeyKind, NewKey};

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key and print its secret (shown only this once).
    Create {
        /// `write` (tracking only, for web pages) or `secret` (everything).
        #[arg(long, value_parser = ["write", "secret"])]
        kind: String,
        /// A name to recognise it by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key's id (`key_…`).
        id: String,
    },
}

/// Runs a key command.
pub async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    match command {
        KeysCommand::Create { kind, name } => {
            let kind = KeyKind::parse(&kind).expect("clap checked the value");
            let name = if name.is_empty() {
                format!("{} key", kind.as_str())
            } else {
                name
            };
            let new = NewKey::generate(kind, name, Utc::now());
            store.insert_key(&new.key).await?;
            eprintln!(
                "created {} key {} ({}); the secret is shown only now:",
                kind.as_str(),
                new.key.id,
                new.key.name
            );
            println!("{}", new.secret);
        }
        KeysCommand::List => {
            println!(
                "{:<18} {:<7} {:<25} {:<25} name",
                "id", "kind", "created", "revoked"
            );
            for key in store.keys().await? {
                let revoked = key
                    .revoked_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<18} {:<7} {:<25} {:<25} {}",
                    key.id,
                    key.kind.as_str(),
                    key.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    revoked,
                    key.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_key(&id).await? {
                bail!("there is no key `{id}` (see `embudo keys list`)");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}
