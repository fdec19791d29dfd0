//! `basic_auth_users`: the bcrypt check, the cache of verified passwords and the unknown-user dummy hash.

use super::WebSecurity;
use base64::Engine;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Used only if a dummy hash cannot be made at load (bcrypt of a random string, cost 10).
const FALLBACK_DUMMY_HASH: &str = "$2b$10$Jd/VIRhZ7tE8wD1Yyq7C5.lYzJ4gT2mB5P8sX2E0Y6cYbD0n7g1Ie";

/// bcrypt's default cost, for the dummy hash when no user has a parsable cost.
const DEFAULT_COST: u32 = 10;

/// The configured users, as loaded; replaced as a whole on reload.
pub(super) struct Users {
    hashes: BTreeMap<String, String>,
    /// Verified against when the user is unknown, so that a wrong user name costs what a wrong password does:
    /// made at load with the highest cost among `hashes` (a fixed cost-10 hash let names leak by timing when the
    /// configured hashes used another cost).
    dummy: String,
    /// Passwords that verified, per user: bcrypt costs tens of milliseconds, far too much for every scrape.
    /// Emptied whenever the users change.
    verified: Mutex<HashMap<String, Vec<u8>>>,
}

/// The highest bcrypt cost among `hashes`.
fn highest_cost<'a>(hashes: impl Iterator<Item = &'a String>) -> Option<u32> {
    hashes.filter_map(|h| h.parse::<bcrypt::HashParts>().ok()).map(|p| p.get_cost()).max()
}

impl Users {
    pub(super) fn new(hashes: BTreeMap<String, String>) -> Users {
        let dummy = if hashes.is_empty() {
            String::new()
        } else {
            let cost = highest_cost(hashes.values()).unwrap_or(DEFAULT_COST);
            // A password nobody knows; even if guessed it grants nothing (unknown users are always refused).
            let secret =
                format!("{:x}", std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now()));
            bcrypt::hash(secret, cost).unwrap_or_else(|_| FALLBACK_DUMMY_HASH.to_string())
        };
        Users { hashes, dummy, verified: Mutex::default() }
    }

    pub(super) fn hashes(&self) -> &BTreeMap<String, String> {
        &self.hashes
    }
}

/// What an `Authorization` header asks for.
pub enum Check {
    /// No users configured, or credentials that verified before (from the cache, no bcrypt).
    Allowed,
    /// No or malformed credentials: refused without bcrypt.
    Denied,
    /// Credentials that need bcrypt (tens of milliseconds of CPU): [`Credentials::verify`].
    Verify(Credentials),
}

/// Credentials waiting for bcrypt. No `Debug`: the password must never reach a log.
pub struct Credentials {
    users: Arc<Users>,
    user: String,
    password: String,
}

impl Credentials {
    /// Runs bcrypt (an unknown user against the dummy hash of the same cost); remembers a password that verified.
    pub fn verify(self) -> bool {
        let known = self.users.hashes.get(&self.user);
        // bcrypt's own comparison is constant-time.
        let ok = bcrypt::verify(self.password.as_bytes(), known.unwrap_or(&self.users.dummy)).unwrap_or(false);
        if ok && known.is_some() {
            self.users.verified.lock().insert(self.user, self.password.into_bytes());
            return true;
        }
        false
    }
}

impl WebSecurity {
    pub fn auth_required(&self) -> bool {
        !self.users.read().hashes.is_empty()
    }

    /// Classifies an `Authorization` header value against `basic_auth_users`, without running bcrypt.
    pub fn check(&self, authorization: Option<&str>) -> Check {
        let users = self.users.read().clone();
        if users.hashes.is_empty() {
            return Check::Allowed;
        }
        let Some((user, password)) = authorization.and_then(parse_basic) else { return Check::Denied };
        let cached = users.verified.lock().get(&user).is_some_and(|c| constant_time_eq(c, password.as_bytes()));
        if cached && users.hashes.contains_key(&user) {
            return Check::Allowed;
        }
        Check::Verify(Credentials { users, user, password })
    }

    /// [`Self::check`], running bcrypt on this thread when needed. True when no users are configured.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        match self.check(authorization) {
            Check::Allowed => true,
            Check::Denied => false,
            Check::Verify(c) => c.verify(),
        }
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Compares without an early exit, so the time taken does not tell how many leading bytes matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing_and_comparison() {
        assert_eq!(parse_basic("Basic dXNlcjpwYXNzOndvcmQ="), Some(("user".into(), "pass:word".into())));
        assert_eq!(parse_basic("basic   dXNlcjpw"), Some(("user".into(), "p".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Basic dXNlcg=="), None); // no colon
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn fallback_dummy_hash_is_a_valid_bcrypt_hash() {
        assert!(FALLBACK_DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
        assert!(!bcrypt::verify("anything", FALLBACK_DUMMY_HASH).unwrap());
    }

    #[test]
    fn the_dummy_hash_has_the_highest_configured_cost() {
        let mut hashes = BTreeMap::new();
        hashes.insert("a".to_string(), bcrypt::hash("x", 4).unwrap());
        hashes.insert("b".to_string(), bcrypt::hash("y", 5).unwrap());
        let users = Users::new(hashes);
        assert_eq!(users.dummy.parse::<bcrypt::HashParts>().unwrap().get_cost(), 5);
        assert!(Users::new(BTreeMap::new()).dummy.is_empty());
    }
}
