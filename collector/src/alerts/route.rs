//! Routing: which channels a notification goes to. A channel's route names rules and/or
//! label matchers; a channel marked `default` gets every notification no other route
//! took. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::matches;

/// Which alerts a channel receives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Rule names this channel receives (empty: any rule, if `matchers` are set).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Label matchers the alert must match (empty: any labels, if `rules` are set).
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    /// Receives what no other route took (the default route).
    #[serde(default)]
    pub default: bool,
}

impl Route {
    fn takes(&self, rule: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.rules.is_empty() && self.matchers.is_empty() {
            return false;
        }
        (self.rules.is_empty() || self.rules.iter().any(|r| r == rule))
            && matches(&self.matchers, labels)
    }
}

/// The channels (ids) a notification of `rule` with `labels` goes to.
pub fn route(channels: &[(i64, Route)], rule: &str, labels: &BTreeMap<String, String>) -> Vec<i64> {
    let taken: Vec<i64> = channels
        .iter()
        .filter(|(_, r)| r.takes(rule, labels))
        .map(|(id, _)| *id)
        .collect();
    if !taken.is_empty() {
        return taken;
    }
    channels
        .iter()
        .filter(|(_, r)| r.default)
        .map(|(id, _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_table() {
        let r = |rules: &[&str], m: &[(&str, &str)], default: bool| Route {
            rules: rules.iter().map(|s| (*s).to_owned()).collect(),
            matchers: m
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            default,
        };
        let channels = vec![
            (1, r(&[], &[], true)),
            (2, r(&["silent"], &[], false)),
            (3, r(&[], &[("store", "0042")], false)),
            (4, r(&["error-rate"], &[("service", "pay*")], false)),
            (5, r(&[], &[], false)),
        ];
        let l = |m: &[(&str, &str)]| -> BTreeMap<String, String> {
            m.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let cases: &[(&str, BTreeMap<String, String>, &[i64])] = &[
            ("silent", l(&[("host", "a")]), &[2]),
            ("silent", l(&[("host", "a"), ("store", "0042")]), &[2, 3]),
            ("error-rate", l(&[("service", "payments")]), &[4]),
            ("error-rate", l(&[("service", "web")]), &[1]),
            ("incident", l(&[]), &[1]),
        ];
        for (rule, labels, want) in cases {
            assert_eq!(route(&channels, rule, labels), *want, "{rule} {labels:?}");
        }
        assert!(route(&channels[1..], "incident", &l(&[])).is_empty());
    }
}
