//! A deliberately misbehaving static-hold module for kumo-policy's tests.
//!
//! Its configuration picks the misbehaviour in `on-session-loss`, `{"mode": M}`:
//! - `loop`: never returns (the host's deadline must stop it);
//! - `memory`: allocates until it is stopped (the host's memory cap);
//! - `panic`: panics (a trap);
//! - `hold`: behaves: holds every loss for 999 s with GRACEFUL_SHUTDOWN, so a
//!   test can show a fresh instance serves after a failure;
//! - `init-error`: refuses its configuration.
//!
//! Clients with id 0 always get the `hold` behaviour, whatever the mode, so
//! one module shows both a failure and a recovery.

use kumo_sdk::Config;
use kumo_sdk::static_hold::{HoldDecision, Marking, SessionLoss, StaticHold};

/// The misbehaving module.
#[derive(Debug)]
pub struct HostileHold {
    mode: String,
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn eat_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![0xA5u8; 1 << 20]));
    }
}

impl StaticHold for HostileHold {
    fn new(config: &Config) -> Result<Self, String> {
        let mode = config["mode"].as_str().unwrap_or("hold").to_owned();
        if mode == "init-error" {
            return Err("hostile-hold refuses this configuration".to_owned());
        }
        Ok(HostileHold { mode })
    }

    #[allow(clippy::panic)]
    fn on_session_loss(&self, event: &SessionLoss) -> HoldDecision {
        if event.client_id != 0 {
            match self.mode.as_str() {
                "loop" => spin(),
                "memory" => eat_memory(),
                "panic" => panic!("hostile-hold panics on purpose"),
                _ => {}
            }
        }
        HoldDecision::hold(999, Marking::GracefulShutdown)
    }
}

kumo_sdk::export_static_hold!(HostileHold);
