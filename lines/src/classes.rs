//! Error classes: sorts unhealthy lines into classes a person recognises, each with a suggested
//! fix they can act on.
//!
//! Table-driven: a [`ClassRule`] lists phrases (`any_of`), matched ignoring ASCII case at the
//! start of a word, or anywhere when the phrase starts with `*` (`*Exception` matches
//! `NullPointerException`). A word-start phrase does not match inside a host name, path or
//! package name: `pricing` matches `Pricing error` but not `pricing.svc.local` or
//! `/srv/pricing/`, so a DNS failure for the pricing host is a DNS failure.
//! Rules are tried in table order, so the first matching rule wins:
//! the built-in table puts store-specific classes (payment terminal, printer...) first because
//! their fix is the most specific. Users extend or override it from configuration with
//! [`ClassTable::with_extra`]; their rules come first and replace built-ins with the same id.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::{Deserialize, Serialize};

/// One class as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// Stable identifier (`disk_full`), used in fingerprints, tickets and the API.
    pub id: String,
    /// Human title (`Disk full`).
    pub title: String,
    /// Phrases; any one matching puts the line in this class.
    pub any_of: Vec<String>,
    /// What a person should do about it.
    pub fix: String,
}

/// A class a line was sorted into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorClass {
    /// Stable identifier.
    pub id: String,
    /// Human title.
    pub title: String,
    /// Suggested fix.
    pub fix: String,
}

/// Errors building a [`ClassTable`].
#[derive(Debug, thiserror::Error)]
pub enum ClassError {
    /// A rule has no id, no phrases, or an empty phrase.
    #[error("class rule #{index} ({id:?}): {reason}")]
    InvalidRule {
        /// Position in the table.
        index: usize,
        /// The rule's id.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The automaton could not be built.
    #[error("building class automaton: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

/// The compiled table.
#[derive(Debug, Clone)]
pub struct ClassTable {
    classes: Vec<ErrorClass>,
    ac: AhoCorasick,
    // Per pattern: (class index, match anywhere).
    meta: Vec<(usize, bool)>,
}

impl Default for ClassTable {
    fn default() -> Self {
        // The built-in table is valid by construction (tested in `builtin_is_valid`).
        #[allow(clippy::expect_used)]
        ClassTable::from_rules(default_rules()).expect("built-in class table is valid")
    }
}

impl ClassTable {
    /// Compiles `rules`, in priority order.
    pub fn from_rules(rules: Vec<ClassRule>) -> Result<Self, ClassError> {
        let mut classes = Vec::with_capacity(rules.len());
        let mut patterns = Vec::new();
        let mut meta = Vec::new();
        for (index, r) in rules.into_iter().enumerate() {
            let bad = |reason| ClassError::InvalidRule {
                index,
                id: r.id.clone(),
                reason,
            };
            if r.id.trim().is_empty() {
                return Err(bad("empty id"));
            }
            if r.any_of.is_empty() {
                return Err(bad("any_of is empty"));
            }
            for p in &r.any_of {
                let (anywhere, text) = match p.strip_prefix('*') {
                    Some(t) => (true, t),
                    None => (false, p.as_str()),
                };
                if text.trim().is_empty() {
                    return Err(bad("empty phrase"));
                }
                patterns.push(text.to_owned());
                meta.push((classes.len(), anywhere));
            }
            classes.push(ErrorClass {
                id: r.id,
                title: r.title,
                fix: r.fix,
            });
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            // A DFA: more memory (tens of KiB here), fastest per byte on the hot path.
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(&patterns)?;
        Ok(ClassTable { classes, ac, meta })
    }

    /// The built-in table with `extra` rules first; an extra rule replaces the built-in rule
    /// with the same id.
    pub fn with_extra(extra: Vec<ClassRule>) -> Result<Self, ClassError> {
        let mut rules = extra;
        for r in default_rules() {
            if !rules.iter().any(|e| e.id == r.id) {
                rules.push(r);
            }
        }
        Self::from_rules(rules)
    }

    /// The first class (in table order) with a phrase in `line`.
    pub fn classify(&self, line: &str) -> Option<&ErrorClass> {
        let hay = line.as_bytes();
        let mut best: Option<usize> = None;
        for m in self.ac.find_overlapping_iter(hay) {
            let (class, anywhere) = self.meta[m.pattern().as_usize()];
            if best.is_some_and(|b| b <= class) {
                continue;
            }
            let start_ok = m.start() == 0 || !hay[m.start() - 1].is_ascii_alphanumeric();
            if anywhere || (start_ok && !in_identifier(hay, m.start(), m.end())) {
                best = Some(class);
            }
        }
        best.and_then(|i| self.classes.get(i))
    }

    /// Like [`ClassTable::classify`], also using an HTTP status field when the line has one.
    pub fn classify_with_status(
        &self,
        line: &str,
        http_status: Option<u16>,
    ) -> Option<&ErrorClass> {
        let text = self.classify(line);
        match http_status {
            Some(500..=599) if text.is_none() => self.get("http_5xx"),
            _ => text,
        }
    }

    /// The class with `id`.
    pub fn get(&self, id: &str) -> Option<&ErrorClass> {
        self.classes.iter().find(|c| c.id == id)
    }

    /// All classes, in priority order.
    pub fn classes(&self) -> &[ErrorClass] {
        &self.classes
    }
}

/// Whether `hay[start..end]` is part of a host name, path or dotted name: preceded by `.` or
/// `/`, or (after the rest of its word) followed by `.` or `/` and then a letter or digit.
fn in_identifier(hay: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).and_then(|i| hay.get(i));
    if matches!(before, Some(b'.' | b'/')) {
        return true;
    }
    // Phrases that end in punctuation (`ora-`, `caused by:`) carry their own boundary.
    if hay.get(end - 1).is_some_and(|c| !c.is_ascii_alphanumeric()) {
        return false;
    }
    let mut i = end;
    while hay.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        i += 1;
    }
    matches!(hay.get(i), Some(b'.' | b'/'))
        && hay.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric())
}

fn rule(id: &str, title: &str, any_of: &[&str], fix: &str) -> ClassRule {
    ClassRule {
        id: id.to_owned(),
        title: title.to_owned(),
        any_of: any_of.iter().map(|s| (*s).to_owned()).collect(),
        fix: fix.to_owned(),
    }
}

/// The built-in classes, most specific first.
pub fn default_rules() -> Vec<ClassRule> {
    vec![
        rule(
            "payment_terminal",
            "Payment terminal",
            &[
                "payment terminal",
                "pin pad",
                "pinpad",
                "card reader",
                "emv ",
                "payment gateway",
                "payment failed",
                "payment service",
            ],
            "Check the terminal is powered and paired with this till (cable or Bluetooth), then \
             restart the payment app; if every till fails, check the payment provider's status \
             page and the store's internet link.",
        ),
        rule(
            "pricing",
            "Pricing",
            &[
                "pricing",
                "missing price",
                "price not found",
                "no price",
                "price lookup",
                "invalid price",
                "price file",
                "price mismatch",
            ],
            "Check the item's price in the price book and that the latest price file reached \
             this store; re-run the price sync for the store.",
        ),
        rule(
            "inventory",
            "Inventory",
            &[
                "inventory",
                "out of stock",
                "stock level",
                "stock sync",
                "sku not found",
                "unknown sku",
            ],
            "Re-run the inventory sync for the store and check the SKU exists in the catalogue; \
             compare the store's stock count with the central system.",
        ),
        rule(
            "printer",
            "Receipt printer",
            &[
                "printer",
                "paper out",
                "out of paper",
                "paper jam",
                "receipt print",
                "cups",
                "print job",
                "paper jam",
                "cover open",
                "paper empty",
            ],
            "Check paper and cover on the receipt printer, power-cycle it, and confirm it is the \
             configured printer (USB/network address) for this till.",
        ),
        rule(
            "scanner",
            "Barcode scanner",
            &["scanner", "barcode", "scan failed", "unreadable code"],
            "Reconnect or power-cycle the scanner, clean its window, and check it is in the \
             configured mode (USB HID/serial) for the till software.",
        ),
        rule(
            "disk_full",
            "Disk full",
            &[
                "no space left",
                "disk full",
                "disk quota exceeded",
                "enospc",
                "filesystem full",
                "file system full",
                "not enough space",
            ],
            "Free space on the volume (old logs, caches, core dumps), check log rotation is \
             working, and grow the volume if usage keeps rising.",
        ),
        rule(
            "out_of_memory",
            "Out of memory",
            &[
                "out of memory",
                "*outofmemory",
                "oom-killer",
                "oom killer",
                "oomkilled",
                "oom-kill",
                "killed process",
                "cannot allocate memory",
                "memory exhausted",
                "enomem",
                "java heap space",
                "memory allocation failed",
            ],
            "Find the process using the memory (restart it if it leaks), raise its memory \
             limit or the host's RAM, and check for a recent change in load or data size.",
        ),
        rule(
            "crash_loop",
            "Crash loop",
            &[
                "restart loop",
                "crash loop",
                "crashloop",
                "back-off restarting",
                "repeated too quickly",
                "restart limit",
                "restart counter",
                "scheduled restart job",
                "respawning too fast",
                "start retries",
                "entered fatal state",
                "main process exited",
                "failed with result",
                "startup failed",
                "on startup",
                "during startup",
            ],
            "Read the first error of the service's last start (journalctl -u <unit> -b, kubectl \
             logs --previous): a service that dies while starting is restarted by its supervisor \
             and dies again. Fix the cause (configuration, missing dependency, bad deploy: roll \
             back) rather than restarting it by hand.",
        ),
        rule(
            "clock_skew",
            "Clock skew",
            &[
                "clock skew",
                "clock drift",
                "time drift",
                "clock wrong",
                "clock is not synchronized",
                "not synchronized",
                "not synchronised",
                "no selectable sources",
                "can't synchronise",
                "cannot synchronize",
                "time reset",
                "timestamp out of range",
                "ntp",
                "chrony",
                "timesyncd",
            ],
            "Check the host's time synchronisation (chronyc tracking, timedatectl): that the NTP \
             server is reachable and the RTC battery is good; a wrong clock also breaks TLS and \
             signed requests.",
        ),
        rule(
            "tls_certificate",
            "TLS / certificate",
            &[
                "certificate",
                "x509",
                "x.509",
                "ssl",
                "tls",
                "handshake fail",
                "self signed",
                "self-signed",
                "unknown ca",
                "pkix",
                "cert_has_expired",
                "unknown authority",
            ],
            "Check the certificate's expiry and hostname (openssl s_client -connect host:443), \
             the trusted CA bundle on this host, and the host clock (a wrong clock breaks TLS).",
        ),
        rule(
            "dns",
            "DNS resolution",
            &[
                "name or service not known",
                "could not resolve",
                "couldn't resolve",
                "*unknownhostexception",
                "nxdomain",
                "no such host",
                "name resolution",
                "getaddrinfo",
                "dns",
                "resolv.conf",
                "eai_again",
                "servfail",
                "dial tcp: lookup",
            ],
            "Check the resolver (/etc/resolv.conf or the DHCP-provided DNS), that the name \
             exists, and that the host can reach its DNS servers.",
        ),
        rule(
            "database",
            "Database",
            &[
                "*sqlexception",
                "sqlstate",
                "deadlock",
                "ora-",
                "postgres",
                "mysql",
                "sqlite",
                "database",
                "too many connections",
                "duplicate key",
                "constraint violation",
                "relation does not exist",
                "db connection",
                "connection pool",
                "jdbc",
                "hikari",
                "connection slots",
                "too many clients",
                "connection is not available",
            ],
            "Check the database is up and reachable, its connection limit and pool settings, \
             and the failing query or migration named in the message.",
        ),
        rule(
            "http_5xx",
            "HTTP 5xx from a service",
            &[
                "internal server error",
                "bad gateway",
                "service unavailable",
                "gateway timeout",
                "http 500",
                "http 502",
                "http 503",
                "http 504",
                "status=500",
                "status=502",
                "status=503",
                "status=504",
                "status code 500",
                "status code 503",
            ],
            "Look at the upstream service's own logs and health for the failing endpoint; \
             check recent deploys and its dependencies.",
        ),
        rule(
            "authentication_permission",
            "Authentication / permission",
            &[
                "permission denied",
                "access denied",
                "unauthorized",
                "forbidden",
                "authentication fail",
                "auth fail",
                "invalid password",
                "failed password",
                "login failed",
                "invalid user",
                "invalid credentials",
                "eacces",
                "not permitted",
                "token expired",
            ],
            "Check the credentials or token the service uses (expired or rotated?), the \
             account's roles, and file ownership/permissions of the path named in the message.",
        ),
        rule(
            "connection_timeout",
            "Connection refused / timeout",
            &[
                "connection refused",
                "econnrefused",
                "timed out",
                "timeout",
                "*timeoutexception",
                "connection reset",
                "reset by peer",
                "broken pipe",
                "no route to host",
                "network is unreachable",
                "host unreachable",
                "connection lost",
                "lost connection",
                "connect failed",
                "econnreset",
            ],
            "Check the remote service is running and listening on the expected host and port, \
             firewalls between the two, and the network link (LTE/Wi-Fi) of this host.",
        ),
        rule(
            "crash",
            "Crash / panic / stack trace",
            &[
                "panic",
                "segfault",
                "segmentation fault",
                "core dumped",
                "traceback",
                "*exception",
                "stack trace",
                "stacktrace",
                "sigsegv",
                "sigabrt",
                "fatal signal",
                "abort",
                "crash",
                "caused by:",
                "unhandled",
            ],
            "Look at the stack trace for the failing function and the input that triggered it; \
             check for a recent deploy to roll back, and file a bug with the trace attached.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_valid() {
        let t = ClassTable::default();
        assert_eq!(t.classes().len(), 16);
        assert!(t.classes().iter().all(|c| !c.fix.is_empty()));
    }

    #[test]
    fn representative_lines() {
        let cases = [
            (
                "dial tcp 10.0.0.5:5432: connect: connection refused",
                "connection_timeout",
            ),
            ("upstream request timed out after 30s", "connection_timeout"),
            (
                "java.net.SocketTimeoutException: Read timed out",
                "connection_timeout",
            ),
            ("getaddrinfo ENOTFOUND api.shop.local", "dns"),
            ("java.net.UnknownHostException: pos-api", "dns"),
            (
                "x509: certificate has expired or is not yet valid",
                "tls_certificate",
            ),
            (
                "SSL routines:ssl3_get_record:wrong version number",
                "tls_certificate",
            ),
            (
                "open /var/lib/pos/db: permission denied",
                "authentication_permission",
            ),
            (
                "Failed password for invalid user admin from 1.2.3.4",
                "authentication_permission",
            ),
            (
                "write /var/log/pos.log: no space left on device",
                "disk_full",
            ),
            (
                "java.lang.OutOfMemoryError: Java heap space",
                "out_of_memory",
            ),
            ("Out of memory: Killed process 1234 (pos)", "out_of_memory"),
            (
                "org.postgresql.util.PSQLException: FATAL: too many connections",
                "database",
            ),
            (
                "psycopg2.errors.DeadlockDetected: deadlock detected",
                "database",
            ),
            ("GET /api/cart 502 Bad Gateway", "http_5xx"),
            ("thread 'main' panicked at src/main.rs:3:5", "crash"),
            ("Traceback (most recent call last):", "crash"),
            ("java.lang.NullPointerException: null", "crash"),
            ("Payment terminal connection timed out", "payment_terminal"),
            (
                "CRITICAL: Pricing error | Missing price for product 999",
                "pricing",
            ),
            ("inventory sync failed for store 12", "inventory"),
            ("Receipt printer: paper out", "printer"),
            ("Barcode scanner disconnected", "scanner"),
            ("Lookup of pricing.svc.local failed: no such host", "dns"),
            ("Printer TM-T88 offline: cover open", "printer"),
            ("Card declined: insufficient funds", "-"),
            (
                "pos-app.service: Start request repeated too quickly.",
                "crash_loop",
            ),
            ("Back-off restarting failed container", "crash_loop"),
            ("System clock wrong by 3602.5 seconds", "clock_skew"),
            (
                "Timed out waiting for reply from ntp.store.local, time drift 31s",
                "clock_skew",
            ),
            ("invoked oom-killer: gfp_mask=0x100cca", "out_of_memory"),
            ("user logged in", "-"),
            ("grossly normal", "-"),
        ];
        let t = ClassTable::default();
        for (line, want) in cases {
            assert_eq!(
                t.classify(line).map_or("-", |c| c.id.as_str()),
                want,
                "{line}"
            );
        }
    }

    #[test]
    fn http_status_field() {
        let t = ClassTable::default();
        assert_eq!(
            t.classify_with_status("GET /x", Some(503))
                .map(|c| c.id.as_str()),
            Some("http_5xx")
        );
        assert_eq!(t.classify_with_status("GET /x", Some(404)), None);
    }

    #[test]
    fn extendable() {
        let extra: Vec<ClassRule> = serde_json::from_str(
            r#"[{"id":"scale","title":"Weighing scale","any_of":["scale"],"fix":"Recalibrate."},
                {"id":"printer","title":"Printer","any_of":["zebra"],"fix":"Call Zebra."}]"#,
        )
        .unwrap();
        let t = ClassTable::with_extra(extra).unwrap();
        assert_eq!(t.classify("scale not responding").unwrap().id, "scale");
        assert_eq!(t.classify("zebra offline").unwrap().fix, "Call Zebra.");
        assert!(t.classify("printer offline").is_none());
        let bad = vec![rule("x", "X", &[], "f")];
        assert!(matches!(
            ClassTable::from_rules(bad),
            Err(ClassError::InvalidRule { .. })
        ));
    }
}
