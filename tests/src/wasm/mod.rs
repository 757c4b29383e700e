//! WASM middleware fixtures: real components, built at test time from the commented WAT core
//! modules in this directory and the gateway's WIT (`gateway/wit/smg.wit`) with `wat` and
//! `wit-component` — no opaque binaries.
//!
//! Each fixture is a core module implementing the canonical ABI by hand (see
//! `pass_through.wat` for the layout notes); [`component`] embeds the chosen WIT world as the
//! `component-type` custom section and wraps the module into a component.
//!
//! | fixture | world | behaviour |
//! |---|---|---|
//! | [`pass_through`] | `smg` (upstream's) | `continue` on request and response |
//! | [`add_header`] | `smg` | request: add `x-wasm-audit: seen`, remove `x-remove-me`; response: set `x-wasm-module: add-header` |
//! | [`reject`] | `smg` | request: `reject(403)` |
//! | [`rewrite_body`] | `smg` | response: JSON content type, body `{"rewritten":true}` |
//! | [`rewrite_request`] | `smg` | request: set `x-rewritten: yes`, body `{"rewritten":"request"}` (and a status, ignored) |
//! | [`on_error`] | `on-error-only` | error: 503, three headers, a D1 body |
//! | [`infinite_loop`] | `smg` | request: never returns |
//! | [`memory_bomb`] | `smg` | request: grows memory without end |
//! | [`trap`] | `smg` | request: `unreachable` |
//! | [`wasi_clock_random`] | `smg-wasi` (imports WASI) | response: set `x-wasi-random: <16 hex digits>` from `wasi:random`, `x-wasi-clock: sane` from `wasi:clocks/wall-clock` |

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::Resolve;

/// The gateway's WIT, as the gateway ships it.
pub const SMG_WIT: &str = include_str!("../../../gateway/wit/smg.wit");

/// The WASI 0.2 interfaces [`wasi_clock_random`] imports (see the files for their origin).
pub const WASI_WITS: [(&str, &str); 2] = [
    ("wasi_clocks.wit", include_str!("wasi_clocks.wit")),
    ("wasi_random.wit", include_str!("wasi_random.wit")),
];

/// Worlds only the fixtures use, appended to [`SMG_WIT`] (same package).
const FIXTURE_WORLDS: &str = "
/// A module with only this gateway's OnError export.
world on-error-only {
  export middleware-on-error;
}

/// Upstream's world with WASI imports, as a module built for wasm32-wasip2 has them.
world smg-wasi {
  include smg;
  import wasi:random/random@0.2.0;
  import wasi:clocks/wall-clock@0.2.0;
}
";

pub const PASS_THROUGH_WAT: &str = include_str!("pass_through.wat");
pub const ADD_HEADER_WAT: &str = include_str!("add_header.wat");
pub const REJECT_WAT: &str = include_str!("reject.wat");
pub const REWRITE_BODY_WAT: &str = include_str!("rewrite_body.wat");
pub const REWRITE_REQUEST_WAT: &str = include_str!("rewrite_request.wat");
pub const ON_ERROR_WAT: &str = include_str!("on_error.wat");
pub const INFINITE_LOOP_WAT: &str = include_str!("infinite_loop.wat");
pub const MEMORY_BOMB_WAT: &str = include_str!("memory_bomb.wat");
pub const TRAP_WAT: &str = include_str!("trap.wat");
pub const WASI_CLOCK_RANDOM_WAT: &str = include_str!("wasi_clock_random.wat");

/// Build a component from a WAT core module and a world of `smg:gateway`.
pub fn component(wat: &str, world: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    for (name, wit) in WASI_WITS {
        resolve.push_str(name, wit).expect("the WASI WIT parses");
    }
    let source = format!("{SMG_WIT}\n{FIXTURE_WORLDS}");
    let package = resolve
        .push_str("smg.wit", &source)
        .expect("the WIT parses");
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("the world exists");
    let mut module = wat::parse_str(wat).expect("the WAT parses");
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("the WIT metadata embeds");
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .expect("the module matches the world")
        .encode()
        .expect("the component encodes")
}

/// `continue` everywhere (upstream's world).
pub fn pass_through() -> Vec<u8> {
    component(PASS_THROUGH_WAT, "smg")
}

/// Adds and removes request headers, sets a response header.
pub fn add_header() -> Vec<u8> {
    component(ADD_HEADER_WAT, "smg")
}

/// Rejects every request with 403.
pub fn reject() -> Vec<u8> {
    component(REJECT_WAT, "smg")
}

/// Replaces every response body with `{"rewritten":true}`.
pub fn rewrite_body() -> Vec<u8> {
    component(REWRITE_BODY_WAT, "smg")
}

/// Replaces every request body with `{"rewritten":"request"}` and sets `x-rewritten: yes`.
pub fn rewrite_request() -> Vec<u8> {
    component(REWRITE_REQUEST_WAT, "smg")
}

/// Replaces failed upstream responses with a 503 and a D1 body (exports only OnError).
pub fn on_error() -> Vec<u8> {
    component(ON_ERROR_WAT, "on-error-only")
}

/// Never returns from `on-request`.
pub fn infinite_loop() -> Vec<u8> {
    component(INFINITE_LOOP_WAT, "smg")
}

/// Grows memory without end in `on-request`.
pub fn memory_bomb() -> Vec<u8> {
    component(MEMORY_BOMB_WAT, "smg")
}

/// Traps in `on-request`.
pub fn trap() -> Vec<u8> {
    component(TRAP_WAT, "smg")
}

/// Imports `wasi:random/random` and `wasi:clocks/wall-clock` and reports what they answer in
/// response headers.
pub fn wasi_clock_random() -> Vec<u8> {
    component(WASI_CLOCK_RANDOM_WAT, "smg-wasi")
}

/// A core module (not a component), which the gateway must refuse with a hint.
pub fn core_module() -> Vec<u8> {
    wat::parse_str(PASS_THROUGH_WAT).expect("the WAT parses")
}

/// `bytes` with a custom section carrying `salt` appended: the same component under another
/// SHA-256, for tests that register one fixture more than once.
pub fn salted(mut bytes: Vec<u8>, salt: &str) -> Vec<u8> {
    let name = b"smg-test-salt";
    let mut payload = Vec::new();
    leb128(&mut payload, name.len() as u64);
    payload.extend_from_slice(name);
    payload.extend_from_slice(salt.as_bytes());
    bytes.push(0); // custom section
    leb128(&mut bytes, payload.len() as u64);
    bytes.extend_from_slice(&payload);
    bytes
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Write `bytes` to `dir/name` and return the absolute path as a string.
pub fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the fixture");
    path.to_str().expect("UTF-8 path").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_a_valid_component() {
        for (name, bytes) in [
            ("pass_through", pass_through()),
            ("add_header", add_header()),
            ("reject", reject()),
            ("rewrite_body", rewrite_body()),
            ("rewrite_request", rewrite_request()),
            ("on_error", on_error()),
            ("infinite_loop", infinite_loop()),
            ("memory_bomb", memory_bomb()),
            ("trap", trap()),
            ("wasi_clock_random", wasi_clock_random()),
            ("salted", salted(pass_through(), "x")),
        ] {
            assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "{name} is a component");
        }
        assert_eq!(&core_module()[..8], b"\0asm\x01\0\0\0");
        assert_ne!(salted(pass_through(), "a"), salted(pass_through(), "b"));
    }
}
