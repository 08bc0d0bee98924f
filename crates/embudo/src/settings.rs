//! Settings, checked once: command-line flags win over environment variables, which win over
//! the config file (`--config`, `EMBUDO_CONFIG`, or `embudo.toml` in the data directory),
//! which wins over defaults. The rest of the program only sees [`Settings`].

use anyhow::{bail, Context};
use embudo_core::Currency;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A database URL, which may hold a password: never printed in full.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep the scheme and host, hide credentials.
        let shown = match self.0.split_once('@') {
            Some((_, host)) => format!("{}://***@{host}", self.0.split("://").next().unwrap_or("")),
            None => self.0.clone(),
        };
        f.write_str(&shown)
    }
}

/// Where data is kept.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(DatabaseUrl),
}

/// The config file's contents; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL.
    pub database_url: Option<String>,
    /// Address to serve on.
    pub addr: Option<String>,
    /// Currency of amounts that name none.
    pub default_currency: Option<String>,
    /// Largest tracking message, bytes.
    pub max_message_bytes: Option<usize>,
    /// Largest tracking batch, bytes.
    pub max_batch_bytes: Option<usize>,
    /// Whether the server keeps the history in memory for analytics (default true).
    pub analytics_in_memory: Option<bool>,
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The data directory (SQLite file, config file).
    pub data_dir: PathBuf,
    /// The database.
    pub store: StoreLocation,
    /// Address to serve on, from the file (a flag may still override it).
    pub addr: Option<String>,
    /// Currency of amounts that name none.
    pub default_currency: Currency,
    /// Largest tracking message, bytes.
    pub max_message_bytes: usize,
    /// Largest tracking batch, bytes.
    pub max_batch_bytes: usize,
    /// Whether the server keeps the history in memory for analytics.
    pub analytics_in_memory: bool,
}

/// The name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "embudo.db";

impl Settings {
    /// Resolves settings from flags/environment (already merged by clap) and the config file.
    pub fn resolve(
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
        config: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let default_dir = PathBuf::from("./embudo-data");
        let file = match &config {
            Some(path) => read_file(path)?,
            None => {
                let implicit = data_dir
                    .clone()
                    .unwrap_or_else(|| default_dir.clone())
                    .join("embudo.toml");
                if implicit.exists() {
                    read_file(&implicit)?
                } else {
                    FileSettings::default()
                }
            }
        };
        let data_dir = data_dir.or(file.data_dir).unwrap_or(default_dir);
        let database_url = database_url.filter(|u| !u.is_empty()).or(file.database_url);
        let store = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => StoreLocation::Postgres(DatabaseUrl(url)),
            Some(url) if url.starts_with("sqlite://") => StoreLocation::Sqlite(PathBuf::from(url.trim_start_matches("sqlite://"))),
            Some(url) => bail!(
                "--database-url must start with postgres:// or postgresql:// (or sqlite://PATH), got `{}`",
                url.split("://").next().unwrap_or("")
            ),
            None => StoreLocation::Sqlite(data_dir.join(SQLITE_FILE)),
        };
        let default_currency = match file.default_currency {
            Some(code) => Currency::parse(&code)
                .map_err(|e| anyhow::anyhow!("default_currency in the config file: {e}"))?,
            None => Currency::USD,
        };
        let max_message_bytes = file.max_message_bytes.unwrap_or(32 * 1024);
        let max_batch_bytes = file.max_batch_bytes.unwrap_or(500 * 1024);
        if max_message_bytes < 32 * 1024 || max_batch_bytes < 500 * 1024 {
            bail!("max_message_bytes and max_batch_bytes may only be raised above Segment's limits (32 KiB, 500 KiB)");
        }
        Ok(Self {
            data_dir,
            store,
            addr: file.addr,
            default_currency,
            max_message_bytes,
            max_batch_bytes,
            analytics_in_memory: file.analytics_in_memory.unwrap_or(true),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in the config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = std::env::temp_dir().join(format!("embudo-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("embudo.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from/file\"\naddr = \"127.0.0.1:9999\"\ndefault_currency = \"eur\"\n",
        )
        .unwrap();
        let s = Settings::resolve(None, None, Some(file.clone())).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.default_currency, Currency::EUR);
        assert!(
            matches!(s.store, StoreLocation::Sqlite(ref p) if p == Path::new("/from/file/embudo.db"))
        );
        let s = Settings::resolve(
            Some("/flag".into()),
            Some("postgres://u:secret@h/db".into()),
            Some(file.clone()),
        )
        .unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/flag"));
        let StoreLocation::Postgres(url) = &s.store else {
            panic!()
        };
        assert!(!format!("{url:?}").contains("secret"));
        assert!(Settings::resolve(None, Some("mysql://x".into()), None).is_err());
        std::fs::write(&file, "nonsense = 1\n").unwrap();
        let err = Settings::resolve(None, None, Some(file)).unwrap_err();
        assert!(format!("{err:#}").contains("nonsense"), "{err:#}");
    }
}
