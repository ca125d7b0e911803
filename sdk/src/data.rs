//! Ask kumo's IRR and RPKI data about a batch of prefixes.
//!
//! kumo holds the data (IRR route objects and AS-SETs from bgpq4 JSON and
//! RPSL files, VRPs from an RTR cache) and answers for a whole batch in one
//! host call: call these once per [`crate::Policy::import`] call with all its
//! prefixes, never once per prefix. When the data changes, kumo runs the
//! import policies again over the routes it may affect, so a policy never
//! caches answers.
//!
//! Natively (`cargo test` of a policy) the answers come from
//! [`testing::TestData`] installed on the test's thread; with none installed
//! every prefix is not-found and no AS-SET is known, as in a kumo without
//! IRR or RPKI configured.
//!
//! ```
//! use kumo_sdk::prelude::*;
//! use kumo_sdk::data::{self, RovState, testing::TestData};
//!
//! let _data = TestData::new().roa("192.0.2.0/24", 24, 64501).install();
//! let states = data::rpki_validate(&prefixes(&["192.0.2.0/24", "198.51.100.0/24"]), Some(64502));
//! assert_eq!(states, [RovState::Invalid, RovState::NotFound]);
//! ```

use ipnet::IpNet;

/// RFC 6811 route origin validation state.
///
/// ```
/// use kumo_sdk::data::RovState;
/// assert_ne!(RovState::Valid, RovState::Invalid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RovState {
    /// No VRP covers the prefix (or kumo has no RPKI data).
    NotFound,
    /// A VRP covers the prefix, matches the origin AS and allows its length.
    Valid,
    /// VRPs cover the prefix and none matches: a hijack or a misconfiguration.
    Invalid,
}

impl RovState {
    fn from_byte(b: u8) -> Self {
        match b {
            1 => RovState::Valid,
            2 => RovState::Invalid,
            _ => RovState::NotFound,
        }
    }
}

/// How an AS-SET's route objects cover a prefix. Ordered worst to best.
///
/// ```
/// use kumo_sdk::data::IrrMatch;
/// assert!(IrrMatch::Exact > IrrMatch::MoreSpecific);
/// assert!(!IrrMatch::NotFound.is_covered());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IrrMatch {
    /// No route object of the set covers the prefix within the bounds.
    NotFound,
    /// A more specific of a registered prefix, no longer than the bounds.
    MoreSpecific,
    /// The prefix itself is registered.
    Exact,
}

impl IrrMatch {
    /// Registered exactly or as an allowed more specific.
    ///
    /// ```
    /// assert!(kumo_sdk::data::IrrMatch::MoreSpecific.is_covered());
    /// ```
    pub fn is_covered(self) -> bool {
        self != IrrMatch::NotFound
    }

    fn from_byte(b: u8) -> Self {
        match b {
            1 => IrrMatch::MoreSpecific,
            2 => IrrMatch::Exact,
            _ => IrrMatch::NotFound,
        }
    }
}

/// The answer to [`irr_check`].
///
/// ```
/// use kumo_sdk::data::IrrAnswer;
/// let nothing = IrrAnswer::default();
/// assert!(!nothing.as_set_found);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IrrAnswer {
    /// kumo knows the AS-SET.
    pub as_set_found: bool,
    /// The origin AS is a member of the expanded AS-SET.
    pub origin_in_set: bool,
    /// Per prefix, in the order asked.
    pub prefix_match: Vec<IrrMatch>,
}

/// RFC 6811 state of each of `prefixes` originated by `origin` (`None`: the
/// AS_PATH ends in an AS_SET, which matches no VRP), in order.
///
/// ```
/// use kumo_sdk::prelude::*;
/// use kumo_sdk::data::{self, RovState, testing::TestData};
/// let _data = TestData::new().roa("2001:db8::/32", 48, 64501).install();
/// let p = prefixes(&["2001:db8:1::/48", "2001:db8:1:1::/64"]);
/// assert_eq!(data::rpki_validate(&p, Some(64501)), [RovState::Valid, RovState::Invalid]);
/// ```
pub fn rpki_validate(prefixes: &[IpNet], origin: Option<u32>) -> Vec<RovState> {
    let origin = origin.unwrap_or(0);
    #[cfg(target_arch = "wasm32")]
    let bytes = crate::guest::bindings::kumo::policy::host::rpki_validate(&batch(prefixes), origin);
    #[cfg(not(target_arch = "wasm32"))]
    let bytes = testing::rpki_validate(prefixes, origin);
    let mut states: Vec<RovState> = bytes.into_iter().map(RovState::from_byte).collect();
    // The host answers one byte per prefix; be safe if it ever does not.
    states.resize(prefixes.len(), RovState::NotFound);
    states
}

/// Check `prefixes` originated by `origin` against AS-SET `as_set`: is the
/// origin a member, and do the members' route objects cover each prefix?
/// More specifics of a registered prefix count up to `/max_len_v4` and
/// `/max_len_v6`; pass 0 for exact matches only.
///
/// ```
/// use kumo_sdk::prelude::*;
/// use kumo_sdk::data::{self, IrrMatch, testing::TestData};
/// let _data = TestData::new().as_set("AS-EXAMPLE", &[64501], &["192.0.2.0/23"]).install();
/// let p = prefixes(&["192.0.2.0/24", "203.0.113.0/24"]);
/// let answer = data::irr_check("AS-EXAMPLE", Some(64501), &p, 24, 48);
/// assert!(answer.origin_in_set);
/// assert_eq!(answer.prefix_match, [IrrMatch::MoreSpecific, IrrMatch::NotFound]);
/// ```
pub fn irr_check(
    as_set: &str,
    origin: Option<u32>,
    prefixes: &[IpNet],
    max_len_v4: u8,
    max_len_v6: u8,
) -> IrrAnswer {
    let origin = origin.unwrap_or(0);
    #[cfg(target_arch = "wasm32")]
    let (found, in_set, bytes) = {
        let a = crate::guest::bindings::kumo::policy::host::irr_check(
            as_set,
            origin,
            &batch(prefixes),
            max_len_v4,
            max_len_v6,
        );
        (a.as_set_found, a.origin_in_set, a.prefix_match)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let (found, in_set, bytes) = testing::irr_check(as_set, origin, prefixes, max_len_v4, max_len_v6);
    let mut prefix_match: Vec<IrrMatch> = bytes.into_iter().map(IrrMatch::from_byte).collect();
    prefix_match.resize(prefixes.len(), IrrMatch::NotFound);
    IrrAnswer {
        as_set_found: found,
        origin_in_set: in_set && origin != 0,
        prefix_match,
    }
}

#[cfg(target_arch = "wasm32")]
fn batch(prefixes: &[IpNet]) -> crate::guest::bindings::kumo::policy::types::PrefixBatch {
    use std::net::IpAddr;
    let mut b = crate::guest::bindings::kumo::policy::types::PrefixBatch {
        high: Vec::with_capacity(prefixes.len()),
        low: Vec::with_capacity(prefixes.len()),
        lengths: Vec::with_capacity(prefixes.len()),
        families: Vec::with_capacity(prefixes.len()),
    };
    for p in prefixes {
        let (high, low, family) = match p.network() {
            IpAddr::V4(a) => (0, u64::from(u32::from(a)), 4),
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                ((bits >> 64) as u64, bits as u64, 6)
            }
        };
        b.high.push(high);
        b.low.push(low);
        b.lengths.push(p.prefix_len());
        b.families.push(family);
    }
    b
}

/// Native test doubles for [`rpki_validate`] and [`irr_check`].
///
/// ```
/// use kumo_sdk::prelude::*;
/// use kumo_sdk::data::{self, RovState, testing::TestData};
/// {
///     let _data = TestData::new().roa("192.0.2.0/24", 24, 64501).install();
///     assert_eq!(data::rpki_validate(&prefixes(&["192.0.2.0/24"]), Some(64501)), [RovState::Valid]);
/// }
/// // Uninstalled when the guard is dropped: no data, not-found.
/// assert_eq!(data::rpki_validate(&prefixes(&["192.0.2.0/24"]), Some(64501)), [RovState::NotFound]);
/// ```
pub mod testing {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use ipnet::IpNet;

    /// IRR and RPKI data for native tests: VRPs and AS-SETs (members and
    /// their registered prefixes). Install it on the test's thread with
    /// [`TestData::install`].
    ///
    /// ```
    /// use kumo_sdk::data::testing::TestData;
    /// let data = TestData::new()
    ///     .roa("192.0.2.0/24", 24, 64501)
    ///     .as_set("AS-EXAMPLE", &[64501, 64502], &["192.0.2.0/24", "2001:db8::/32"]);
    /// let _guard = data.install();
    /// ```
    #[derive(Debug, Clone, Default)]
    pub struct TestData {
        vrps: Vec<(IpNet, u8, u32)>,
        as_sets: BTreeMap<String, (Vec<u32>, Vec<IpNet>)>,
    }

    /// Keeps a [`TestData`] installed on this thread until dropped.
    ///
    /// ```
    /// let guard = kumo_sdk::data::testing::TestData::new().install();
    /// drop(guard);
    /// ```
    #[derive(Debug)]
    pub struct Installed(());

    impl Drop for Installed {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = None);
        }
    }

    thread_local! {
        static CURRENT: RefCell<Option<TestData>> = const { RefCell::new(None) };
    }

    #[allow(clippy::panic)]
    fn net(text: &str) -> IpNet {
        match text.parse::<IpNet>() {
            Ok(p) => p.trunc(),
            Err(e) => panic!("test prefix {text:?}: {e}"),
        }
    }

    impl TestData {
        /// No data.
        ///
        /// ```
        /// let _ = kumo_sdk::data::testing::TestData::new();
        /// ```
        pub fn new() -> Self {
            Self::default()
        }

        /// Add a VRP: `prefix` up to `/max_length` originated by `asn`.
        ///
        /// # Panics
        /// On a string that is not a prefix: this is a test helper.
        ///
        /// ```
        /// let _ = kumo_sdk::data::testing::TestData::new().roa("192.0.2.0/24", 24, 64501);
        /// ```
        pub fn roa(mut self, prefix: &str, max_length: u8, asn: u32) -> Self {
            self.vrps.push((net(prefix), max_length, asn));
            self
        }

        /// Add AS-SET `name` with member ASNs `asns` whose route objects are `prefixes`.
        ///
        /// # Panics
        /// On a string that is not a prefix: this is a test helper.
        ///
        /// ```
        /// let _ = kumo_sdk::data::testing::TestData::new().as_set("AS-X", &[64501], &["192.0.2.0/24"]);
        /// ```
        pub fn as_set(mut self, name: &str, asns: &[u32], prefixes: &[&str]) -> Self {
            self.as_sets.insert(
                name.to_ascii_uppercase(),
                (asns.to_vec(), prefixes.iter().map(|p| net(p)).collect()),
            );
            self
        }

        /// Make this the data [`super::rpki_validate`] and [`super::irr_check`]
        /// answer from on this thread, until the guard is dropped.
        ///
        /// ```
        /// let _guard = kumo_sdk::data::testing::TestData::new().install();
        /// ```
        pub fn install(self) -> Installed {
            CURRENT.with(|c| *c.borrow_mut() = Some(self));
            Installed(())
        }
    }

    // Only native builds answer from the doubles; wasm builds ask kumo.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn rpki_validate(prefixes: &[IpNet], origin: u32) -> Vec<u8> {
        CURRENT.with(|c| {
            let data = c.borrow();
            let vrps = data.as_ref().map(|d| d.vrps.as_slice()).unwrap_or_default();
            prefixes
                .iter()
                .map(|p| {
                    let p = p.trunc();
                    let mut covered = false;
                    for (vrp, max, asn) in vrps {
                        if vrp.contains(&p) {
                            covered = true;
                            if *asn != 0 && *asn == origin && p.prefix_len() <= *max {
                                return 1;
                            }
                        }
                    }
                    if covered { 2 } else { 0 }
                })
                .collect()
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn irr_check(
        as_set: &str,
        origin: u32,
        prefixes: &[IpNet],
        max_len_v4: u8,
        max_len_v6: u8,
    ) -> (bool, bool, Vec<u8>) {
        CURRENT.with(|c| {
            let data = c.borrow();
            let Some((asns, registered)) = data
                .as_ref()
                .and_then(|d| d.as_sets.get(&as_set.to_ascii_uppercase()))
            else {
                return (false, false, vec![0; prefixes.len()]);
            };
            let matches = prefixes
                .iter()
                .map(|p| {
                    let max = match p {
                        IpNet::V4(_) => max_len_v4,
                        IpNet::V6(_) => max_len_v6,
                    };
                    if registered.contains(&p.trunc()) {
                        2
                    } else if p.prefix_len() <= max && registered.iter().any(|r| r.contains(p)) {
                        1
                    } else {
                        0
                    }
                })
                .collect();
            (true, asns.contains(&origin), matches)
        })
    }
}
