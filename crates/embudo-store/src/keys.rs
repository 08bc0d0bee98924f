//! API keys. A key's secret is shown once, when it is created; the store keeps only its
//! SHA-256 hash (the secret is 32 random bytes, so a plain hash is enough).

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// May only send tracking data; meant to sit in a web page.
    Write,
    /// May do everything.
    Secret,
}

impl KeyKind {
    /// The name used in storage and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Secret => "secret",
        }
    }

    /// Parses the name used in storage and on the command line.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "write" => Some(Self::Write),
            "secret" => Some(Self::Secret),
            _ => None,
        }
    }
}

/// A stored key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Public id, safe to show and log (`key_…`).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Write or secret.
    pub kind: KeyKind,
    /// Hex SHA-256 of the secret.
    #[serde(skip_serializing)]
    pub hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly made key: the record to store and the secret to show once.
pub struct NewKey {
    /// The record to store.
    pub key: ApiKey,
    /// The secret (`ew_…` for write keys, `es_…` for secret keys).
    pub secret: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &self.key)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl NewKey {
    /// Makes a new random key.
    pub fn generate(kind: KeyKind, name: impl Into<String>, now: DateTime<Utc>) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let prefix = match kind {
            KeyKind::Write => "ew_",
            KeyKind::Secret => "es_",
        };
        let secret = format!("{prefix}{}", hex::encode(bytes));
        let mut id_bytes = [0u8; 6];
        rand::rng().fill_bytes(&mut id_bytes);
        let key = ApiKey {
            id: format!("key_{}", hex::encode(id_bytes)),
            name: name.into(),
            kind,
            hash: hash_secret(&secret),
            created_at: now,
            revoked_at: None,
        };
        Self { key, secret }
    }
}

/// The hex SHA-256 of a key's secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_hash_to_their_record() {
        let new = NewKey::generate(KeyKind::Write, "site", Utc::now());
        assert!(new.secret.starts_with("ew_"));
        assert_eq!(hash_secret(&new.secret), new.key.hash);
        assert!(!format!("{new:?}").contains(&new.secret));
        let other = NewKey::generate(KeyKind::Write, "site", Utc::now());
        assert_ne!(new.secret, other.secret);
        assert_ne!(new.key.id, other.key.id);
    }
}
