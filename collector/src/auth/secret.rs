//! Bearer secrets: API tokens (`flt_<id>_<secret>`) and session cookies
//! (`<session id>.<secret>`). The store keeps only the SHA-256 of the secret part; the
//! id part finds the row, and the hash is compared in constant time (`subtle`).
//! 32 random bytes make a brute-force search hopeless, so a fast hash is enough here
//! (passwords, which people choose, get argon2id instead).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string whose `Debug` and `Display` never show it; [`SecretStr::expose`] is
/// the one way to read it, so every use is greppable.
#[derive(Clone)]
pub struct SecretStr(std::sync::Arc<str>);

impl SecretStr {
    pub fn new(s: impl Into<std::sync::Arc<str>>) -> SecretStr {
        SecretStr(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Prefix of every API token, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "flt_";
/// Random bytes in a token or session secret.
const SECRET_BYTES: usize = 32;

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something a server can work around.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("OS random source");
    hex(&bytes)
}

/// A fresh secret for a token or a session.
pub fn new_secret() -> String {
    random_hex(SECRET_BYTES)
}

/// Lowercase hex of the SHA-256 of `secret`.
pub fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// True if `secret` hashes to `stored_hex`; the comparison takes the same time wherever
/// the first difference is.
pub fn matches(secret: &str, stored_hex: &str) -> bool {
    let computed = sha256_hex(secret);
    computed.as_bytes().ct_eq(stored_hex.as_bytes()).into()
}

/// Constant-time equality of two byte strings of any length (lengths may leak).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The presented form of an API token.
pub fn format_token(id: i64, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}_{secret}")
}

/// Splits a presented API token into (id, secret); `None` if it is not one of ours.
pub fn parse_token(presented: &str) -> Option<(i64, &str)> {
    let rest = presented.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    (!secret.is_empty() && secret.len() <= 128).then_some((id, secret))
}

/// The cookie value of a session.
pub fn format_session(id: &str, secret: &str) -> String {
    format!("{id}.{secret}")
}

/// Splits a session cookie into (id, secret).
pub fn parse_session(value: &str) -> Option<(&str, &str)> {
    let (id, secret) = value.split_once('.')?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (ok(id) && ok(secret)).then_some((id, secret))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let secret = new_secret();
        assert_eq!(secret.len(), 64);
        let t = format_token(42, &secret);
        assert_eq!(parse_token(&t), Some((42, secret.as_str())));
        assert!(matches(&secret, &sha256_hex(&secret)));
        assert!(!matches("other", &sha256_hex(&secret)));
        for bad in [
            "",
            "flt_",
            "flt_x_y",
            "flt_0_abc",
            "flt_-1_abc",
            "flt_5_",
            "abc_5_x",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn sessions_round_trip() {
        let v = format_session("ab12", "cd34");
        assert_eq!(parse_session(&v), Some(("ab12", "cd34")));
        for bad in ["", ".", "ab.", ".cd", "zz.cd", "ab.cd.ef"] {
            assert_eq!(parse_session(bad), None, "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = SecretStr::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
