//! Loopback address blocks and ports, so that tests running in parallel (threads of one test
//! binary, or several test binaries) never share a speaker address.
//!
//! Each [`TestNet`] leases one block `127.0.N.0/24` (N in 10..=249) for its lifetime. The lease
//! is a file created with `create_new` in a shared lock directory, so two processes cannot take
//! the same block; a lease left behind by a dead process is taken over.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

const FIRST_BLOCK: u32 = 10;
const LAST_BLOCK: u32 = 249;

/// One leased `127.0.N.0/24` block. Dropping it frees the block.
#[derive(Debug)]
pub struct TestNet {
    block: u8,
    lease: PathBuf,
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("kumo-e2e-locks")
}

fn pid_alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

impl TestNet {
    /// Leases a free block.
    pub fn new() -> Result<Self> {
        // Start at a per-process offset so parallel binaries rarely race for the same file.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let span = LAST_BLOCK - FIRST_BLOCK + 1;
        let dir = lock_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let start = std::process::id().wrapping_mul(7);
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let block = FIRST_BLOCK + start.wrapping_add(n) % span;
            let lease = dir.join(format!("block-{block}"));
            if Self::try_lease(&lease)? {
                let block = u8::try_from(block).context("block number out of range")?;
                return Ok(Self { block, lease });
            }
        }
        bail!(
            "no free 127.0.N.0/24 block in {FIRST_BLOCK}..={LAST_BLOCK}; stale leases in {}?",
            dir.display()
        )
    }

    fn try_lease(lease: &PathBuf) -> Result<bool> {
        match fs::OpenOptions::new().write(true).create_new(true).open(lease) {
            Ok(mut f) => {
                write!(f, "{}", std::process::id())?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(lease).unwrap_or_default();
                match owner.trim().parse::<u32>() {
                    // Held by a live process (or by an earlier test of this one).
                    Ok(pid) if pid_alive(pid) => Ok(false),
                    // Unreadable or dead owner: a crashed run left it behind. An empty file may
                    // be a lease being written right now, so leave that one alone.
                    Ok(_) => {
                        let _ = fs::remove_file(lease);
                        Self::try_lease(lease)
                    }
                    Err(_) => Ok(false),
                }
            }
            Err(e) => Err(e).with_context(|| format!("creating lease {}", lease.display())),
        }
    }

    /// The block number N of `127.0.N.0/24`.
    pub fn block(&self) -> u8 {
        self.block
    }

    /// The address `127.0.N.host`. Convention in the tests: `.1` is kumo, `.2`... are clients.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, self.block, host)
    }

    /// A TCP port that is free on `addr` right now (the kernel picks it; nothing holds it after
    /// this returns, but the address is ours alone, so nobody else will bind it).
    pub fn free_port(&self, addr: Ipv4Addr) -> Result<u16> {
        let listener = TcpListener::bind(SocketAddr::from((addr, 0)))
            .with_context(|| format!("binding {addr}:0 to find a free port"))?;
        Ok(listener.local_addr()?.port())
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lease);
    }
}

/// The documentation next hop a client at `127.0.N.host` announces for IPv4: `192.0.2.host`.
/// GoBGP treats 127/8 next hops as invalid, so clients must not announce their own address.
pub fn doc_next_hop_v4(local: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, local.octets()[3])
}

/// The documentation next hop for IPv6 routes: `2001:db8::host`.
pub fn doc_next_hop_v6(local: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(local.octets()[3]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn two_nets_get_distinct_blocks_and_free_them() {
        let a = TestNet::new().unwrap();
        let b = TestNet::new().unwrap();
        assert_ne!(a.block(), b.block());
        assert_eq!(a.addr(2), Ipv4Addr::new(127, 0, a.block(), 2));
        let lease = a.lease.clone();
        assert!(lease.exists());
        drop(a);
        assert!(!lease.exists(), "lease file removed on drop");
    }

    #[test]
    fn free_port_is_bindable() {
        let net = TestNet::new().unwrap();
        let port = net.free_port(net.addr(1)).unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((net.addr(1), port)).unwrap();
    }

    #[test]
    fn documentation_next_hops_follow_host_octet() {
        let local = Ipv4Addr::new(127, 0, 42, 7);
        assert_eq!(doc_next_hop_v4(local), Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(doc_next_hop_v6(local), "2001:db8::7".parse::<Ipv6Addr>().unwrap());
    }
}
