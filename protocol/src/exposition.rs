//! The metrics exposition formats both binaries serve on `/metrics`.
//!
//! Metrics are rendered once, in the OpenMetrics text format (`prometheus-client`). A
//! scraper that asks for OpenMetrics (`Accept: application/openmetrics-text`, as
//! Prometheus does) gets it unchanged; any other gets the Prometheus text format 0.0.4,
//! which names a counter family by its `_total` sample, has no `# UNIT` and no `# EOF`.
//! Served as OpenMetrics to a 0.0.4 parser, a counter's `# HELP`/`# TYPE` would name a
//! family without samples and its `_total` samples would be untyped (what `promtool
//! check metrics` reports as "no help text").

use std::collections::HashSet;

/// `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the Prometheus text format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The body and `Content-Type` to answer a scrape whose `Accept` header is `accept`,
/// from metrics rendered as OpenMetrics text.
pub fn negotiate(accept: Option<&str>, openmetrics: String) -> (&'static str, String) {
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        (OPENMETRICS_CONTENT_TYPE, openmetrics)
    } else {
        (PROMETHEUS_CONTENT_TYPE, to_prometheus_text(&openmetrics))
    }
}

/// OpenMetrics text as the Prometheus text format 0.0.4: counter families named by their
/// `_total` samples, `# UNIT` and `# EOF` dropped; samples unchanged.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, kind)| kind.trim() == "counter")
        .map(|(name, _)| name)
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) && !name.ends_with("_total") {
                    out.push_str("_total");
                }
                if !tail.is_empty() {
                    out.push(' ');
                    out.push_str(tail);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_total_samples() {
        let om = "# HELP app_lines Lines read.\n\
                  # TYPE app_lines counter\n\
                  app_lines_total 3\n\
                  # HELP app_used_bytes Bytes held.\n\
                  # TYPE app_used_bytes gauge\n\
                  # UNIT app_used_bytes bytes\n\
                  app_used_bytes 7\n\
                  # HELP app_drops Drops.\n\
                  # TYPE app_drops counter\n\
                  app_drops_total{reason=\"policy\"} 1\n\
                  # EOF\n";
        let want = "# HELP app_lines_total Lines read.\n\
                    # TYPE app_lines_total counter\n\
                    app_lines_total 3\n\
                    # HELP app_used_bytes Bytes held.\n\
                    # TYPE app_used_bytes gauge\n\
                    app_used_bytes 7\n\
                    # HELP app_drops_total Drops.\n\
                    # TYPE app_drops_total counter\n\
                    app_drops_total{reason=\"policy\"} 1\n";
        assert_eq!(to_prometheus_text(om), want);
    }

    #[test]
    fn negotiation_follows_accept() {
        let om = "# TYPE a counter\na_total 1\n# EOF\n".to_owned();
        let rows = [
            (None, PROMETHEUS_CONTENT_TYPE),
            (
                Some("text/plain;version=0.0.4;q=0.9,*/*;q=0.1"),
                PROMETHEUS_CONTENT_TYPE,
            ),
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                OPENMETRICS_CONTENT_TYPE,
            ),
        ];
        for (accept, want) in rows {
            let (ct, body) = negotiate(accept, om.clone());
            assert_eq!(ct, want, "{accept:?}");
            assert_eq!(body.contains("# EOF"), want == OPENMETRICS_CONTENT_TYPE);
        }
    }
}
