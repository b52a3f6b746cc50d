//! Arbitrary text into the config loader (NATS format and TOML), with includes resolved from
//! an in-memory map and a fake environment: it never panics, never loops forever and never
//! blows the stack, however deep the nesting.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natsd_core::config::{self, IncludeResolver};

/// Files `a.conf` and `b.conf` (and anything else, which is missing) from the fuzz input.
struct Files<'a> {
    a: &'a str,
    b: &'a str,
}

impl IncludeResolver for Files<'_> {
    fn resolve(&self, _including: &str, path: &str) -> Result<(String, String), String> {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name {
            "a.conf" => Ok(("a.conf".into(), self.a.into())),
            "b.conf" => Ok(("b.conf".into(), self.b.into())),
            _ => Err(format!("no such file {path}")),
        }
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("4222".into()),
        "NESTED" => Some("{ a: $NESTED }".into()),
        "LIST" => Some("[1, 2 ]".into()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // main \0 a.conf \0 b.conf
    let mut parts = text.splitn(3, '\0');
    let main = parts.next().unwrap_or("");
    let files = Files { a: parts.next().unwrap_or(""), b: parts.next().unwrap_or("") };
    let _ = config::load("main.conf", main, &files, &env);
    let _ = config::load("main.toml", main, &files, &env);
});
