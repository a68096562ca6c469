//! The agent's configuration loader on arbitrary TOML: a clear error or a valid config, never
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return;
    };
    let _ = fleetlog_agent::config::load(None, |_| None, table);
});
