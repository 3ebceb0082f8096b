//! Checking credentials: HTTP basic auth against bcrypt hashes, as exporter-toolkit does,
//! and bearer tokens (Skywatch's extension).
//!
//! Timing. An unknown user costs one bcrypt verification against a dummy hash of the
//! users' own cost, so a name's existence does not show in the time an answer takes.
//! Verifications are remembered, the right ones and the wrong ones alike (as
//! exporter-toolkit's cache does), keyed by a SHA-256 under a per-process random key of
//! the user, the stored hash and the password: a repeated try costs a lookup whether it
//! was right or wrong, so the cache does not tell them apart either, and no password is
//! kept in memory in the clear. bcrypt's own comparison is constant-time; tokens are
//! compared by their SHA-256 with `subtle`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The most verifications remembered; past it, a tenth are forgotten at random.
const CACHE_SIZE: usize = 100;

/// What a route class accepts.
#[derive(Debug, Default)]
pub struct Credentials {
    /// User name to bcrypt hash.
    users: BTreeMap<String, String>,
    /// The SHA-256 of each accepted bearer token.
    tokens: Vec<[u8; 32]>,
    /// The cost of the dummy hash an unknown user is checked against: the users' most
    /// common cost.
    cost: u32,
    dummy: OnceLock<String>,
}

impl Credentials {
    /// Credentials from bcrypt hashes (already checked) and plain tokens.
    pub fn new(users: BTreeMap<String, String>, tokens: &[String]) -> Self {
        let mut costs: HashMap<u32, usize> = HashMap::new();
        for hash in users.values() {
            if let Ok(c) = crate::config::bcrypt_cost(hash) {
                *costs.entry(c).or_default() += 1;
            }
        }
        let cost = costs
            .into_iter()
            .max_by_key(|&(c, n)| (n, c))
            .map_or(bcrypt::DEFAULT_COST, |(c, _)| c);
        Self {
            users,
            tokens: tokens
                .iter()
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
            cost,
            dummy: OnceLock::new(),
        }
    }

    /// Whether anything is required: no users and no tokens means open.
    pub fn required(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }

    /// Whether basic auth users are configured (the challenge is `Basic` then).
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// A hash of the users' cost that no password is checked against successfully in
    /// practice; made once, on first need (bcrypt at cost 10 takes tens of milliseconds).
    fn dummy(&self) -> String {
        self.dummy
            .get_or_init(|| {
                bcrypt::hash("skywatch: not a user", self.cost)
                    .unwrap_or_else(|_| DUMMY_COST_10.to_owned())
            })
            .clone()
    }
}

/// exporter-toolkit's fixed dummy hash (of "fakepassword", cost 10), should hashing fail.
const DUMMY_COST_10: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Checks credentials; one per server, shared by its listeners.
pub struct Authenticator {
    key: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// bcrypt runs one at a time, as exporter-toolkit's mutex has it: a flood of wrong
    /// passwords takes one core, not all.
    bcrypt: tokio::sync::Semaphore,
    use_cache: bool,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Authenticator {
    /// An authenticator; without `use_cache` every try runs bcrypt (for measurements).
    pub fn new(use_cache: bool) -> Self {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // No randomness from the OS: the cache key is then only a hash, which still
            // keeps passwords out of memory.
            tracing::warn!("no OS randomness for the credential cache's key");
        }
        Self {
            key,
            cache: Mutex::new(HashMap::new()),
            bcrypt: tokio::sync::Semaphore::new(1),
            use_cache,
        }
    }

    /// Whether `user` and `password` are accepted by `credentials`. Runs bcrypt on a
    /// blocking thread when the pair is not remembered.
    pub async fn basic(&self, credentials: &Arc<Credentials>, user: &str, password: &str) -> bool {
        let known = credentials.users.get(user).cloned();
        let valid_user = known.is_some();
        let hash = match known {
            Some(h) => h,
            None => {
                let c = credentials.clone();
                tokio::task::spawn_blocking(move || c.dummy())
                    .await
                    .unwrap_or_else(|_| DUMMY_COST_10.to_owned())
            }
        };
        let key = self.cache_key(user, &hash, password);
        if self.use_cache
            && let Some(&ok) = self.lock().get(&key)
        {
            return ok && valid_user;
        }
        let verified = {
            let _permit = self.bcrypt.acquire().await;
            let password = password.to_owned();
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        };
        let ok = verified && valid_user;
        if self.use_cache {
            let mut cache = self.lock();
            if cache.len() >= CACHE_SIZE {
                // HashMap's order is random per process: dropping the first tenth drops a
                // random tenth.
                let drop: Vec<_> = cache.keys().take(CACHE_SIZE / 10).copied().collect();
                for k in drop {
                    cache.remove(&k);
                }
            }
            cache.insert(key, ok);
        }
        ok
    }

    /// Whether `token` is one of `credentials`' bearer tokens; every token is compared,
    /// in constant time.
    pub fn bearer(&self, credentials: &Credentials, token: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for t in &credentials.tokens {
            found |= t.ct_eq(&presented);
        }
        bool::from(found)
    }

    fn cache_key(&self, user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        for part in [user, hash, password] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], bool>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(password: &str) -> Arc<Credentials> {
        let hash = bcrypt::hash(password, 4).unwrap_or_else(|e| panic!("{e}"));
        Arc::new(Credentials::new(
            BTreeMap::from([("alice".to_owned(), hash)]),
            &["a-token-of-some-length".to_owned()],
        ))
    }

    #[tokio::test]
    async fn basic_accepts_only_the_right_pair_cached_or_not() {
        let c = creds("secret");
        for auth in [Authenticator::new(true), Authenticator::new(false)] {
            for _ in 0..2 {
                assert!(auth.basic(&c, "alice", "secret").await);
                assert!(!auth.basic(&c, "alice", "Secret").await);
                assert!(!auth.basic(&c, "bob", "secret").await);
                assert!(!auth.basic(&c, "", "").await);
            }
        }
    }

    #[tokio::test]
    async fn a_changed_hash_is_not_answered_from_the_cache() {
        let auth = Authenticator::new(true);
        assert!(auth.basic(&creds("one"), "alice", "one").await);
        assert!(!auth.basic(&creds("two"), "alice", "one").await);
    }

    #[tokio::test]
    async fn the_dummy_hash_has_the_users_cost() {
        let c = creds("x");
        assert_eq!(c.cost, 4);
        assert_eq!(crate::config::bcrypt_cost(&c.dummy()), Ok(4));
    }

    #[test]
    fn bearer_compares_tokens() {
        let c = creds("x");
        let auth = Authenticator::new(true);
        assert!(auth.bearer(&c, "a-token-of-some-length"));
        assert!(!auth.bearer(&c, "a-token-of-some-lengtH"));
        assert!(!auth.bearer(&Credentials::default(), ""));
    }
}
