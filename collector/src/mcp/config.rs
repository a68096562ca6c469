//! The `[mcp]` keys: whether `/mcp` is served, and the bounds of what a tool returns.

use serde::Deserialize;

use crate::config::ConfigError;

/// Every `[mcp]` key, for environment overrides.
pub const KEYS: &[&str] = &["mcp.enabled", "mcp.max_result_bytes", "mcp.max_page"];

/// Largest tool result by default (its JSON), in bytes: a model's context is the scarce
/// resource, so answers stay small and page.
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 256 * 1024;
/// Most items (events, incidents, hosts, lines) one tool call returns by default.
pub const DEFAULT_MAX_PAGE: u64 = 100;

/// `[mcp]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMcp {
    enabled: Option<bool>,
    max_result_bytes: Option<u64>,
    max_page: Option<u64>,
}

/// Validated `[mcp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McpConfig {
    /// Serve `/mcp` on the HTTP port (default true).
    pub enabled: bool,
    /// Largest tool result (JSON bytes); a larger one is refused as a tool error asking for
    /// a narrower call, and counted.
    pub max_result_bytes: usize,
    /// Most items one call returns; `limit` above it is a bad argument.
    pub max_page: u32,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            enabled: true,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES as usize,
            max_page: DEFAULT_MAX_PAGE as u32,
        }
    }
}

impl TryFrom<RawMcp> for McpConfig {
    type Error = ConfigError;

    fn try_from(raw: RawMcp) -> Result<Self, ConfigError> {
        let max_result_bytes = raw.max_result_bytes.unwrap_or(DEFAULT_MAX_RESULT_BYTES);
        if !(4096..=64 * 1024 * 1024).contains(&max_result_bytes) {
            return Err(ConfigError::invalid(
                "mcp.max_result_bytes",
                format!("must be between 4096 and 67108864, got {max_result_bytes}"),
            ));
        }
        let max_page = raw.max_page.unwrap_or(DEFAULT_MAX_PAGE);
        if !(1..=1000).contains(&max_page) {
            return Err(ConfigError::invalid(
                "mcp.max_page",
                format!("must be between 1 and 1000, got {max_page}"),
            ));
        }
        Ok(McpConfig {
            enabled: raw.enabled.unwrap_or(true),
            max_result_bytes: max_result_bytes as usize,
            max_page: max_page as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_valid_and_bounds_are_checked() {
        assert_eq!(
            McpConfig::try_from(RawMcp::default()).unwrap(),
            McpConfig::default()
        );
        let raw = |bytes, page| RawMcp {
            enabled: None,
            max_result_bytes: Some(bytes),
            max_page: Some(page),
        };
        assert!(McpConfig::try_from(raw(100, 10)).is_err());
        assert!(McpConfig::try_from(raw(65536, 0)).is_err());
        assert!(McpConfig::try_from(raw(65536, 1001)).is_err());
        assert_eq!(McpConfig::try_from(raw(65536, 20)).unwrap().max_page, 20);
    }
}
