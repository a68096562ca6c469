//! Which collector to connect to next, when several are configured (`collector = "a:4433,
//! b:4433"`, replicas on one database): pure, without I/O or clock.
//!
//! Each agent has a home: the collector its agent id hashes to, so that a fleet spreads over
//! the replicas. A failed connection moves to the next collector in the list (fail over);
//! a session that ends on purpose after `rebalance_after` away from home goes back to the home
//! one (rebalance), so agents return to a replica that came back.

/// The configured collectors and where this agent stands among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    addrs: Vec<String>,
    home: usize,
    current: usize,
}

/// FNV-1a 64 of `bytes`: stable across builds and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Splits a `collector` value into its addresses (comma-separated, blanks ignored).
pub fn split_addrs(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Targets {
    /// `addrs` must not be empty (the config requires one); `agent_id` picks the home.
    pub fn new(addrs: Vec<String>, agent_id: &str) -> Targets {
        let n = addrs.len().max(1) as u64;
        let home = (fnv1a(agent_id.as_bytes()) % n) as usize;
        Targets {
            addrs,
            home,
            current: home,
        }
    }

    /// The collector to connect to now.
    pub fn current(&self) -> &str {
        self.addrs.get(self.current).map_or("", String::as_str)
    }

    /// Whether the current collector is this agent's home.
    pub fn at_home(&self) -> bool {
        self.current == self.home
    }

    /// A connection to the current collector failed: the next one is tried.
    pub fn failed(&mut self) {
        if !self.addrs.is_empty() {
            self.current = (self.current + 1) % self.addrs.len();
        }
    }

    /// A session ended on purpose to rebalance: the home collector is tried again.
    pub fn go_home(&mut self) {
        self.current = self.home;
    }

    /// Whether a session connected to the current collector should end after
    /// `rebalance_after` (away from home, with more than one collector).
    pub fn rebalances(&self, rebalance_after: Option<std::time::Duration>) -> bool {
        rebalance_after.is_some() && !self.at_home() && self.addrs.len() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn three() -> Vec<String> {
        split_addrs("a:1, b:2 ,,c:3")
    }

    #[test]
    fn addresses_split_on_commas() {
        assert_eq!(three(), ["a:1", "b:2", "c:3"]);
        assert_eq!(split_addrs("only:1"), ["only:1"]);
    }

    #[test]
    fn a_fleet_spreads_over_the_collectors() {
        let mut per = [0usize; 3];
        for i in 0..300 {
            let t = Targets::new(three(), &format!("{i:016x}{:016x}", i * 7919));
            per[["a:1", "b:2", "c:3"]
                .iter()
                .position(|a| *a == t.current())
                .unwrap()] += 1;
        }
        assert!(per.iter().all(|n| *n >= 70), "{per:?}");
        // The home is stable for an agent id.
        assert_eq!(
            Targets::new(three(), "agent-x").current(),
            Targets::new(three(), "agent-x").current()
        );
    }

    #[test]
    fn failures_walk_the_list_and_rebalancing_goes_home() {
        let mut t = Targets::new(three(), "agent-x");
        let home = t.current().to_owned();
        assert!(t.at_home());
        assert!(!t.rebalances(Some(Duration::from_secs(600))));
        let mut seen = vec![home.clone()];
        for _ in 0..2 {
            t.failed();
            assert!(!t.at_home());
            assert!(t.rebalances(Some(Duration::from_secs(600))));
            assert!(!t.rebalances(None), "rebalancing off");
            seen.push(t.current().to_owned());
        }
        seen.sort();
        assert_eq!(seen, ["a:1", "b:2", "c:3"], "every collector is tried");
        t.failed();
        assert_eq!(t.current(), home, "and round again");
        t.failed();
        t.go_home();
        assert_eq!(t.current(), home);
        // One collector: never rebalances, fails over to itself.
        let mut one = Targets::new(split_addrs("a:1"), "agent-x");
        one.failed();
        assert_eq!(one.current(), "a:1");
        assert!(!one.rebalances(Some(Duration::from_secs(1))));
    }
}
