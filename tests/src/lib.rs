//! Test support.

pub mod harness;
pub mod upstream;
pub mod wasm;

/// The simulated worker fleet, which lives in `smg-sim` (the gateway's demo uses it too); kept
/// under this name so the black-box tests read `smg_tests::mock::…` as before.
pub use smg_sim as mock;
