//! Per-client output queue: never blocks the core, bounded by coalescing,
//! and shared among clients that are sent the same changes.
//!
//! The route-server core pushes changes for a client here and never waits on
//! that client's socket (RFC 7947 route servers serve hundreds of clients
//! from one process; one slow client must never stall the others).
//!
//! **Shared segments** (a light form of update groups, DESIGN §2). At an IXP
//! most clients are sent the same changes in the same order: a route accepted
//! from one client goes, unmodified, to all the others. The core's fan-out
//! ([`Fanout`]) puts a batch's runs of changes (each run for its own
//! receivers) in one [`Segment`], encoded once per codec context, and queues
//! for each client a [`Share`]: the pieces of the runs it is sent, which its
//! writer sends as a few slices of that one encoding. A client's own pushes
//! (its initial table) are cut into segments at boundaries chosen by the
//! content itself (a hash of the NLRI), so the same run of changes is cut the
//! same way for every client even when one client's list lacks a few routes
//! (its own); equal segments are stored once for the whole process
//! (`SegmentCache`). Either way the memory of a backlog is shared.
//!
//! **Coalescing** bounds what a stuck client costs: once its socket has had
//! no room for [`STALL`] while changes wait, its queue turns into a map with
//! the latest state per route (at most one entry per route in the table)
//! until the writer takes it.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use kumo_rib::{Attrs, FastHash, FastMap as Map};
use kumo_wire::{AfiSafi, CodecContext, EncodeError, Nlri, PathAttributes, UpdatePacker};
use smallvec::SmallVec;
use tokio::sync::Notify;

/// One route change: `Some` = announce with these attributes, `None` = withdraw.
pub type Route = (Nlri, Option<Attrs>);

/// A client whose socket has had no room for this long while changes wait
/// has stopped reading: its queue is coalesced from then on.
pub const STALL: Duration = Duration::from_secs(1);

/// Routes of shared segments handed to the writer in one batch, so that it
/// comes back often (a writer that stops coming back is stalled).
const TAKE_MAX: usize = 8192;

/// Segment boundaries: where the attribute set changes, after a route whose
/// NLRI hash has these bits clear (1 in 32), or at [`SEGMENT_MAX`] routes.
const BOUNDARY_MASK: u64 = 31;
const SEGMENT_MAX: usize = 128;

/// Route changes shared by the client queues that hold a part of them, cut
/// into pieces of at most `SEGMENT_MAX` routes with each NLRI at most once
/// per piece (so the encoder may reorder within a piece). A queue holds a
/// [`Share`]: the segment and the pieces its client is sent.
#[derive(Debug)]
pub struct Segment {
    routes: Box<[Route]>,
    /// Piece `i` is `routes[bounds[i]..bounds[i + 1]]`.
    bounds: Box<[u32]>,
    /// The UPDATEs for the first codec context that asked (every client of a
    /// route server usually negotiates the same); other contexts encode anew.
    encoded: OnceLock<(CodecContext, Encoding)>,
}

/// A segment's UPDATEs for one codec context, piece by piece: piece `i`'s
/// are `bytes[at[i]..at[i + 1]]`, `messages[i + 1] - messages[i]` of them
/// (counted once when encoded, not by every writer that sends them: walking
/// the length fields of data no longer in cache was 4 % of kumo's CPU at
/// P6 300 x 1k). A route that cannot be encoded is withdrawn in its piece
/// instead ([`encode_routes`]), and the piece listed in `failed`: it costs
/// the clients sent that piece that route, and nobody else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    bytes: Box<[u8]>,
    at: Box<[usize]>,
    messages: Box<[u64]>,
    failed: Box<[(usize, EncodeError)]>,
}

#[cfg(test)]
impl Encoding {
    /// All the UPDATEs, and how many.
    fn whole(&self) -> (&[u8], u64) {
        (&self.bytes, self.messages.last().copied().unwrap_or(0))
    }
}

impl Segment {
    fn new(routes: Box<[Route]>, bounds: Box<[u32]>) -> Self {
        Segment {
            routes,
            bounds,
            encoded: OnceLock::new(),
        }
    }

    fn pieces(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    fn piece(&self, i: usize) -> &[Route] {
        &self.routes[self.bounds[i] as usize..self.bounds[i + 1] as usize]
    }

    /// This segment's shared encoding, when `ctx` is the codec context it
    /// was first asked for (every client of a route server usually
    /// negotiates the same): encoded then, and sent by every writer from
    /// there without copying. `None` for another context: such a writer
    /// encodes just its own pieces ([`Segment::encode_piece`]).
    pub fn shared_encoding(&self, ctx: &CodecContext) -> Option<&Encoding> {
        let (first, encoding) = self.encoded.get_or_init(|| (ctx.clone(), self.encode_all(ctx)));
        (first == ctx).then_some(encoding)
    }

    /// Append piece `i`'s UPDATEs for `ctx` to `out`: how many, and the
    /// first error of the routes that could not be encoded (withdrawn
    /// instead, see [`encode_routes`]).
    pub fn encode_piece(
        &self,
        i: usize,
        ctx: &CodecContext,
        out: &mut Vec<u8>,
    ) -> (u64, Option<EncodeError>) {
        let start = out.len();
        let skipped = encode_routes(self.piece(i).iter().map(|(n, a)| (*n, a.as_ref())), &[], ctx, out);
        (count_messages(&out[start..]), skipped)
    }

    fn encode_all(&self, ctx: &CodecContext) -> Encoding {
        let mut bytes = Vec::new();
        let mut at = Vec::with_capacity(self.bounds.len());
        let mut messages = Vec::with_capacity(self.bounds.len());
        let mut failed = Vec::new();
        at.push(0);
        messages.push(0);
        let mut sent = 0;
        for i in 0..self.pieces() {
            let (n, skipped) = self.encode_piece(i, ctx, &mut bytes);
            sent += n;
            if let Some(e) = skipped {
                failed.push((i, e));
            }
            at.push(bytes.len());
            messages.push(sent);
        }
        Encoding {
            // Stored at exactly its length: it lives as long as the segment
            // is queued anywhere.
            bytes: bytes.into_boxed_slice(),
            at: at.into_boxed_slice(),
            messages: messages.into_boxed_slice(),
            failed: failed.into_boxed_slice(),
        }
    }
}

/// Ranges of piece indices (`start..end`), increasing, never adjacent.
type Pieces = SmallVec<[(u32, u32); 2]>;

/// What one client is sent of a [`Segment`]: some of its pieces, in order.
/// At an IXP a client is sent every run of a batch but its own routes', so
/// its share of a whole batch is one or two ranges: a pointer and a few
/// slices per batch rather than one per run.
#[derive(Debug, Clone)]
pub struct Share {
    segment: Arc<Segment>,
    pieces: Pieces,
    /// Routes in those pieces.
    routes: usize,
}

impl Share {
    /// All of `segment`.
    fn whole(segment: Arc<Segment>) -> Self {
        let (pieces, routes) = (segment.pieces(), segment.routes.len());
        Share {
            pieces: if pieces == 0 {
                Pieces::new()
            } else {
                smallvec::smallvec![(0, pieces as u32)]
            },
            segment,
            routes,
        }
    }

    pub fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// The indices of the pieces this client is sent, in order.
    pub fn piece_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.pieces.iter().flat_map(|&(a, b)| a as usize..b as usize)
    }

    /// The pieces of this share that `encoding` (its segment's) could not encode.
    pub fn failures<'e>(&'e self, encoding: &'e Encoding) -> impl Iterator<Item = &'e EncodeError> + 'e {
        encoding.failed.iter().filter_map(|(i, e)| {
            let i = *i as u32;
            self.pieces.iter().any(|&(a, b)| (a..b).contains(&i)).then_some(e)
        })
    }

    /// The same changes in a segment of their own (same pieces).
    fn to_private(&self) -> Share {
        let mut routes = Vec::with_capacity(self.routes);
        let mut bounds = vec![0];
        for i in self.piece_indices() {
            routes.extend(self.segment.piece(i).iter().cloned());
            bounds.push(routes.len() as u32);
        }
        Share::whole(Arc::new(Segment::new(
            routes.into_boxed_slice(),
            bounds.into_boxed_slice(),
        )))
    }

    /// Split off the front of this share: whole pieces, at least one and
    /// about `max` routes (a writer takes a bounded part of a huge batch and
    /// leaves the rest queued, where it can still be coalesced).
    fn split_front(&mut self, max: usize) -> Share {
        let mut front = Pieces::new();
        let mut routes = 0;
        while let Some(&(a, b)) = self.pieces.first() {
            if routes >= max {
                break;
            }
            let mut end = a;
            while end < b && (routes < max || end == a) {
                routes += self.segment.piece(end as usize).len();
                end += 1;
            }
            front.push((a, end));
            if end == b {
                self.pieces.remove(0);
            } else {
                self.pieces[0].0 = end;
            }
        }
        self.routes -= routes;
        Share {
            segment: self.segment.clone(),
            pieces: front,
            routes,
        }
    }

    /// The route changes this client is sent, in order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.piece_indices().flat_map(|i| self.segment.piece(i))
    }

    pub fn len(&self) -> usize {
        self.routes
    }

    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }

    /// This share's UPDATEs in `encoding` (its segment's) as contiguous byte
    /// slices of at most `max` octets (a piece is never split, so a slice
    /// holds whole UPDATEs: control messages may be written between them),
    /// each with its number of UPDATEs.
    pub fn slices<'e>(
        &'e self,
        encoding: &'e Encoding,
        max: usize,
    ) -> impl Iterator<Item = (&'e [u8], u64)> + 'e {
        let mut ranges = self.pieces.iter().map(|&(a, b)| (a as usize, b as usize));
        let mut rest: Option<(usize, usize)> = None;
        std::iter::from_fn(move || {
            let (a, b) = rest.take().or_else(|| ranges.next())?;
            let (at, messages) = (&encoding.at, &encoding.messages);
            // The most pieces from `a` that fit in `max` octets, at least one.
            let fit = at[a + 1..=b].partition_point(|&end| end - at[a] <= max);
            let end = a + fit.max(1);
            if end < b {
                rest = Some((end, b));
            }
            Some((&encoding.bytes[at[a]..at[end]], messages[end] - messages[a]))
        })
    }
}

/// A client sent less than 1/`PRIVATE_BELOW` of a batch gets its part copied
/// into a segment of its own ([`Fanout::finish`]).
const PRIVATE_BELOW: usize = 4;

/// The core's fan-out of one batch of changes: runs of route changes, each
/// for its own receivers, cut into the pieces of one shared segment; each
/// receiver gets one [`Share`] of it. Per client and batch that is one
/// pointer and a few ranges, however many runs the batch has: with 1,000
/// clients a batch had a run per announcing client, and handing out a
/// pointer per run and client (cloning, queueing, taking, writing and
/// dropping each) was a third of kumo's CPU at P6 1,000 x 1k.
#[derive(Debug)]
pub struct Fanout {
    routes: Vec<Route>,
    /// Where each piece starts, and where the last ends.
    bounds: Vec<u32>,
    /// Per client (by index), the pieces it is sent and how many routes.
    shares: Vec<(Pieces, usize)>,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout {
            routes: Vec::new(),
            bounds: vec![0],
            shares: Vec::new(),
        }
    }
}

impl Fanout {
    /// Add a run: `routes` in order, sent to the clients `receivers` (by
    /// index) after everything added before. (Indices are `u32`: a batch is
    /// a few thousand changes, a policy change's part or one session's table
    /// withdrawn, far below 4G.)
    pub fn run(
        &mut self,
        routes: impl IntoIterator<Item = Route>,
        receivers: impl IntoIterator<Item = usize>,
    ) {
        let (first_piece, first_route) = (self.bounds.len() - 1, self.routes.len());
        let mut piece_start = first_route;
        // One bit per NLRI hash: a cheap first test for a repeated NLRI.
        let mut seen: u64 = 0;
        for (nlri, attrs) in routes {
            let bit = 1u64 << (HASH.hash_one(nlri) & 63);
            let full = self.routes.len() - piece_start >= SEGMENT_MAX;
            // A later change to the same route goes into the next piece,
            // which is sent after this one.
            if full || holds(&self.routes[piece_start..], seen, bit, &nlri) {
                piece_start = self.routes.len();
                self.bounds.push(piece_start as u32);
                seen = 0;
            }
            seen |= bit;
            self.routes.push((nlri, attrs));
        }
        if self.routes.len() == first_route {
            return;
        }
        self.bounds.push(self.routes.len() as u32);
        let (last_piece, routes) = (self.bounds.len() - 1, self.routes.len() - first_route);
        let (first_piece, last_piece) = (first_piece as u32, last_piece as u32);
        for client in receivers {
            if client >= self.shares.len() {
                self.shares.resize_with(client + 1, Default::default);
            }
            let (pieces, count) = &mut self.shares[client];
            match pieces.last_mut() {
                Some(range) if range.1 == first_piece => range.1 = last_piece,
                _ => pieces.push((first_piece, last_piece)),
            }
            *count += routes;
        }
    }

    /// Hand each client its share of what was added (`push(client,
    /// share)`, in client order, only to clients sent something). Leaves
    /// the fan-out empty for the next batch.
    pub fn finish(&mut self, mut push: impl FnMut(usize, Share)) {
        if self.routes.is_empty() {
            return;
        }
        let segment = Arc::new(Segment::new(
            std::mem::take(&mut self.routes).into_boxed_slice(),
            self.bounds.as_slice().into(),
        ));
        self.bounds.truncate(1);
        for (client, (pieces, routes)) in self.shares.iter_mut().enumerate() {
            if pieces.is_empty() {
                continue;
            }
            let share = Share {
                segment: segment.clone(),
                pieces: std::mem::take(pieces),
                routes: std::mem::take(routes),
            };
            // A client sent a small part of the batch (one family, a narrow
            // filter) gets a copy of its part: queued behind a slow socket,
            // a share would keep the whole batch alive while its backlog
            // counted only its own routes, and keep other slow clients from
            // being "behind everyone".
            push(
                client,
                if share.routes * PRIVATE_BELOW < segment.routes.len() {
                    share.to_private()
                } else {
                    share
                },
            );
        }
    }
}

/// How many BGP messages a buffer of whole messages holds (walks the length fields).
pub fn count_messages(mut bytes: &[u8]) -> u64 {
    let mut n = 0;
    while bytes.len() >= kumo_wire::HEADER_LEN {
        let len = usize::from(u16::from_be_bytes([bytes[16], bytes[17]])).max(kumo_wire::HEADER_LEN);
        bytes = bytes.get(len..).unwrap_or_default();
        n += 1;
    }
    n
}

/// Equal segments, stored once for the process. Keys are a hash of the
/// content; a hit is compared in full (NLRI and the attribute set's pointer:
/// attribute sets are interned, and a live segment keeps its sets alive, so
/// equal pointers are the same set). Sharing between two daemons in one
/// process (tests) is harmless: equal content encodes to equal bytes.
#[derive(Debug, Default)]
struct SegmentCache {
    segments: Map<u64, Weak<Segment>>,
    prune_at: usize,
    scratch: Vec<Route>,
}

static SEGMENTS: LazyLock<Mutex<SegmentCache>> = LazyLock::new(Default::default);

/// Fixed keys: the hash only picks boundaries and cache slots, and a hit is
/// always compared in full, so predictable hashes cost nothing but speed.
static HASH: LazyLock<FastHash> =
    LazyLock::new(|| FastHash::with_seeds(0x6b75_6d6f, 0x6f75_7471, 0x7365_676d, 0x656e_7473));

/// `piece` (whose NLRI hashes set the bits of `seen`) already changes
/// `nlri` (hash bit `bit`): the bit is a cheap first test before the scan.
fn holds(piece: &[Route], seen: u64, bit: u64, nlri: &Nlri) -> bool {
    seen & bit != 0 && piece.iter().any(|(n, _)| n == nlri)
}

fn attrs_key(attrs: &Option<Attrs>) -> u64 {
    attrs.as_ref().map_or(0, |a| a.addr() as u64)
}

impl SegmentCache {
    /// Cut `changes` into shared segments, in order.
    fn share(&mut self, changes: impl IntoIterator<Item = Route>) -> Vec<Arc<Segment>> {
        let mut out = Vec::new();
        let mut content: u64 = 0;
        // One bit per NLRI hash: a cheap first test for a repeated NLRI.
        let mut seen: u64 = 0;
        for (nlri, attrs) in changes {
            let h = HASH.hash_one(nlri);
            let bit = 1u64 << (h & 63);
            if holds(&self.scratch, seen, bit, &nlri) {
                // A later change to the same route: it goes into the next
                // segment, which is sent after this one.
                out.push(self.flush(content));
                content = 0;
                seen = 0;
            }
            seen |= bit;
            // A change of attribute set ends a segment: a run of routes with one
            // set is usually one UPDATE from one source, and a client that is
            // not sent that source's routes then lacks whole segments and
            // shares all the others.
            if self
                .scratch
                .last()
                .is_some_and(|(_, a)| attrs_key(a) != attrs_key(&attrs))
            {
                out.push(self.flush(content));
                content = 0;
                seen = 0;
            }
            content = (content.rotate_left(7) ^ h ^ attrs_key(&attrs)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            self.scratch.push((nlri, attrs));
            if (h >> 32) & BOUNDARY_MASK == 0 || self.scratch.len() >= SEGMENT_MAX {
                out.push(self.flush(content));
                content = 0;
                seen = 0;
            }
        }
        if !self.scratch.is_empty() {
            out.push(self.flush(content));
        }
        out
    }

    fn flush(&mut self, content: u64) -> Arc<Segment> {
        if let Some(segment) = self.segments.get(&content).and_then(Weak::upgrade)
            && segment.routes.len() == self.scratch.len()
            && segment
                .routes
                .iter()
                .zip(&self.scratch)
                .all(|(a, b)| a.0 == b.0 && attrs_key(&a.1) == attrs_key(&b.1))
        {
            self.scratch.clear();
            return segment;
        }
        let routes = std::mem::take(&mut self.scratch).into_boxed_slice();
        let bounds = Box::new([0, routes.len() as u32]);
        let segment = Arc::new(Segment::new(routes, bounds));
        self.segments.insert(content, Arc::downgrade(&segment));
        if self.segments.len() >= self.prune_at {
            self.segments.retain(|_, s| s.strong_count() > 0);
            self.prune_at = (2 * self.segments.len()).max(1024);
        }
        segment
    }
}

/// What the writer takes from the queue in one go: `shares` in order, then
/// `routes`, then `end_of_rib`.
#[derive(Debug, Default)]
pub struct Batch {
    pub shares: Vec<Share>,
    /// Latest state per route (a coalesced queue).
    pub routes: Map<Nlri, Option<Attrs>>,
    /// End-of-RIB markers to send after the routes.
    pub end_of_rib: Vec<AfiSafi>,
}

#[derive(Debug)]
struct Pending {
    shares: VecDeque<Share>,
    /// Routes in `shares`.
    segment_routes: usize,
    /// The coalesced queue; while it is not empty, changes go here, and
    /// `shares` is empty.
    routes: Map<Nlri, Option<Attrs>>,
    end_of_rib: Vec<AfiSafi>,
    /// Since when the writer has been waiting for room in the client's socket
    /// without writing a byte.
    blocked_since: Option<Instant>,
    /// A stalled queue is coalesced only with more routes waiting than this
    /// (the paths in the RIB, as the core last said): a backlog no longer
    /// than the table costs less as shared segments than as a map.
    coalesce_above: usize,
}

impl Pending {
    /// The client stopped reading: its socket has had no room for `stall`,
    /// it is behind everyone else (the oldest change it waits for is held
    /// for it alone), and it waits for more changes than the table has
    /// paths. (Measured on the socket rather than on the
    /// writer's pace: a writer that waits for the CPU on a busy machine is
    /// slow, not stuck. And while other clients still wait for the same
    /// segments, keeping them costs nothing more, whereas a per-route map
    /// per client costs a table each: measured in P6, 300 clients read by
    /// one starved harness, coalescing them all took 3.4 GB.)
    fn stalled(&self, stall: Duration) -> bool {
        self.segment_routes > self.coalesce_above
            && self.blocked_since.is_some_and(|t| t.elapsed() >= stall)
            && self.behind_everyone()
    }

    /// The oldest segment this queue waits for is held for it alone: every
    /// other client has been sent it.
    fn behind_everyone(&self) -> bool {
        self.shares
            .front()
            .is_some_and(|s| Arc::strong_count(&s.segment) == 1)
    }

    fn coalesce(&mut self) {
        for share in std::mem::take(&mut self.shares) {
            self.absorb(&share);
        }
        self.segment_routes = 0;
    }

    /// `share`'s changes into the coalesced queue (latest state per route).
    fn absorb(&mut self, share: &Share) {
        for (nlri, attrs) in share.routes() {
            self.routes.insert(*nlri, attrs.clone());
        }
    }
}

/// A queue of route changes for one client.
#[derive(Debug)]
pub struct OutQueue {
    pending: Mutex<Pending>,
    notify: Notify,
    stall: Duration,
}

impl Default for OutQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl OutQueue {
    pub fn new() -> Self {
        OutQueue {
            pending: Mutex::new(Pending {
                shares: VecDeque::new(),
                segment_routes: 0,
                routes: Map::default(),
                end_of_rib: Vec::new(),
                blocked_since: None,
                coalesce_above: 0,
            }),
            notify: Notify::new(),
            stall: STALL,
        }
    }

    /// Queue changes, sent in this order after everything queued before.
    /// Equal runs pushed to several queues separately (each client's initial
    /// table) are found in the process-wide cache and stored once.
    pub fn push(&self, changes: impl IntoIterator<Item = Route>) {
        let shared = SEGMENTS.lock().unwrap_or_else(|e| e.into_inner()).share(changes);
        self.push_shared(shared.into_iter().map(Share::whole));
    }

    /// Queue shares of segments (cut by a [`Fanout`]) shared with other
    /// clients, sent in this order after everything queued before.
    pub fn push_shared(&self, shares: impl IntoIterator<Item = Share>) {
        self.push_shared_quietly(shares);
        self.notify.notify_one();
    }

    /// [`OutQueue::push_shared`] without waking the writer: the caller
    /// wakes it later ([`WriterWakeups`]).
    pub fn push_shared_quietly(&self, shares: impl IntoIterator<Item = Share>) {
        {
            let mut pending = self.lock();
            if !pending.routes.is_empty() || pending.stalled(self.stall) {
                pending.coalesce();
                for share in shares {
                    pending.absorb(&share);
                }
            } else {
                for share in shares {
                    pending.segment_routes += share.routes;
                    pending.shares.push_back(share);
                }
            }
        }
    }

    /// Queue End-of-RIB for `family`, sent after everything queued before it.
    pub fn push_end_of_rib(&self, family: AfiSafi) {
        self.lock().end_of_rib.push(family);
        self.notify.notify_one();
    }

    /// Forget everything (the session went down: the next session starts from a full table).
    pub fn clear(&self) {
        let mut pending = self.lock();
        pending.shares.clear();
        pending.segment_routes = 0;
        pending.routes = Map::default();
        pending.end_of_rib.clear();
        pending.blocked_since = None;
    }

    /// The writer found no room in the client's socket (the first call
    /// after progress starts the clock of [`STALL`]).
    pub fn writer_blocked(&self) {
        let mut pending = self.lock();
        if pending.blocked_since.is_none() {
            pending.blocked_since = Some(Instant::now());
        }
    }

    /// The writer wrote something: the client is reading.
    pub fn writer_progress(&self) {
        self.lock().blocked_since = None;
    }

    /// For the core's backpressure: the route changes this queue waits for
    /// in shared segments. `table` is the number of paths in the RIB: a
    /// stalled queue with a longer backlog, or one behind everyone else (its
    /// oldest segment is held for it alone) with more than `behind` route
    /// changes waiting, is turned into a per-route map first and counts 0:
    /// one slow reader must not hold the others back, and its map has at
    /// most one entry per route.
    pub fn backlog(&self, table: usize, behind: usize) -> usize {
        let mut pending = self.lock();
        pending.coalesce_above = table;
        // The length first: `behind_everyone` reads the front segment's
        // reference count, a cache miss per client that writers keep
        // contended (9 % of kumo's CPU at 1,000 clients, where the core runs
        // this for every queue each time it checks the backlog).
        if pending.stalled(self.stall) || (pending.segment_routes > behind && pending.behind_everyone()) {
            pending.coalesce();
        }
        pending.segment_routes
    }

    /// Route changes waiting to be sent (once coalesced, at most one per route).
    pub fn len(&self) -> usize {
        let pending = self.lock();
        pending.segment_routes + pending.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        let pending = self.lock();
        pending.segment_routes == 0 && pending.routes.is_empty() && pending.end_of_rib.is_empty()
    }

    /// Take what is queued (about `TAKE_MAX` routes of shared segments:
    /// a bigger share is split at a piece),
    /// waiting until there is something.
    pub async fn next_batch(&self) -> Batch {
        loop {
            let notified = self.notify.notified();
            if let Some(batch) = self.try_take() {
                return batch;
            }
            notified.await;
        }
    }

    fn try_take(&self) -> Option<Batch> {
        let mut pending = self.lock();
        if pending.segment_routes == 0 && pending.routes.is_empty() && pending.end_of_rib.is_empty() {
            return None;
        }
        let mut shares = Vec::new();
        let mut taken = 0;
        while taken < TAKE_MAX
            && let Some(mut share) = pending.shares.pop_front()
        {
            if share.routes > TAKE_MAX {
                // A huge batch (a session's whole table withdrawn, a policy
                // change's part): take a bounded front, leave the rest queued.
                if taken == 0 {
                    let front = share.split_front(TAKE_MAX);
                    taken += front.routes;
                    shares.push(front);
                }
                if !share.pieces.is_empty() {
                    pending.shares.push_front(share);
                }
                break;
            }
            taken += share.routes;
            shares.push(share);
        }
        pending.segment_routes -= taken;
        if pending.shares.is_empty() && pending.shares.capacity() > 1024 {
            // A backlog's worth of entries, kept for nothing once drained.
            pending.shares = VecDeque::new();
        }
        // A map taken whole rather than drained: a drained map keeps its
        // capacity (a whole table) for as long as the session lives.
        let routes = std::mem::take(&mut pending.routes);
        // End-of-RIB follows everything queued before it.
        let end_of_rib = if pending.shares.is_empty() {
            std::mem::take(&mut pending.end_of_rib)
        } else {
            Vec::new()
        };
        Some(Batch {
            shares,
            routes,
            end_of_rib,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // in a way that matters (at worst a count is off until the next clear),
        // so poisoning is ignored.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wakes the writers of the queues the core pushed to in one batch. Each
/// wake-up from the core's thread to a writer task is a syscall to the
/// runtime's thread, and with kumo on one CPU the kernel switched to the
/// woken thread at once: the core and the runtime took turns client by
/// client (perf at P1: 106k context switches of the core in 2 s of its CPU,
/// nearly all in that wake-up). With a dispatcher the core hands over the
/// batch's list with one wake-up, and the dispatcher wakes the writers from
/// the runtime's own thread, where a wake-up is a push to its run queue.
#[derive(Debug)]
pub struct WriterWakeups {
    touched: Vec<Arc<OutQueue>>,
    dispatcher: Option<Arc<Dispatcher>>,
}

#[derive(Debug, Default)]
struct Dispatcher {
    queues: Mutex<Vec<Arc<OutQueue>>>,
    notify: Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl WriterWakeups {
    /// Writers woken one by one from the caller's thread.
    pub fn direct() -> Self {
        WriterWakeups {
            touched: Vec::new(),
            dispatcher: None,
        }
    }

    /// Writers woken by a dispatcher task spawned on `runtime` (where the
    /// writers run); it ends when this is dropped.
    pub fn dispatched(runtime: &tokio::runtime::Handle) -> Self {
        let dispatcher = Arc::new(Dispatcher::default());
        let task = dispatcher.clone();
        runtime.spawn(async move {
            let mut queues = Vec::new();
            while !task.closed.load(std::sync::atomic::Ordering::Acquire) {
                task.notify.notified().await;
                std::mem::swap(
                    &mut queues,
                    &mut *task.queues.lock().unwrap_or_else(|e| e.into_inner()),
                );
                for q in queues.drain(..) {
                    q.notify.notify_one();
                }
            }
        });
        WriterWakeups {
            touched: Vec::new(),
            dispatcher: Some(dispatcher),
        }
    }

    /// `queue` was pushed to: wake its writer at the next [`WriterWakeups::wake`].
    pub fn add(&mut self, queue: &Arc<OutQueue>) {
        self.touched.push(queue.clone());
    }

    /// Wake the writers of every queue added since the last call.
    pub fn wake(&mut self) {
        if self.touched.is_empty() {
            return;
        }
        match &self.dispatcher {
            None => {
                for q in self.touched.drain(..) {
                    q.notify.notify_one();
                }
            }
            Some(d) => {
                d.queues
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .append(&mut self.touched);
                d.notify.notify_one();
            }
        }
    }
}

impl Drop for WriterWakeups {
    fn drop(&mut self) {
        self.wake();
        if let Some(d) = &self.dispatcher {
            d.closed.store(true, std::sync::atomic::Ordering::Release);
            d.notify.notify_one();
        }
    }
}

/// Encode route changes (each NLRI at most once) as UPDATEs: withdrawals per
/// family, announcements grouped by shared attribute set (one attribute
/// encoding for many prefixes), then End-of-RIB per family in `end_of_rib`.
///
/// A route that cannot be encoded for `ctx` (an attribute set over 4,096
/// octets for a client without extended messages) is tried again without
/// ATOMIC_AGGREGATE and AGGREGATOR (RFC 8654 §4 asks for RFC 7606's
/// "attribute discard" first); if it still does not fit it is withdrawn
/// instead: RFC 8654 §4, it must not be sent, and a previous path the client holds for
/// its prefix must not stay in service (withdrawing a prefix the client
/// never got is harmless). Returns the first such error, if any; every
/// other route is encoded (failing the whole call cost a client every other
/// route of it, and a coalesced queue may be its whole table).
pub fn encode_routes<'a>(
    routes: impl Iterator<Item = (Nlri, Option<&'a Attrs>)>,
    end_of_rib: &[AfiSafi],
    ctx: &CodecContext,
    out: &mut Vec<u8>,
) -> Option<EncodeError> {
    let mut withdrawn: Vec<(AfiSafi, Vec<Nlri>)> = Vec::new();
    let mut announced: Vec<(&Attrs, AfiSafi, Vec<Nlri>)> = Vec::new();
    // Attribute sets are interned: one pointer per distinct set. Consecutive
    // routes mostly share a set, so the last group is tried first; the index
    // serves large batches.
    let mut index: Map<(usize, AfiSafi), usize> = Map::default();
    for (nlri, attrs) in routes {
        let family = family_of(&nlri);
        match attrs {
            None => match withdrawn.iter_mut().find(|(f, _)| *f == family) {
                Some((_, list)) => list.push(nlri),
                None => withdrawn.push((family, vec![nlri])),
            },
            Some(attrs) => {
                let key = (attrs.addr(), family);
                let last = announced
                    .len()
                    .checked_sub(1)
                    .filter(|&i| (announced[i].0.addr(), announced[i].1) == key);
                let i = match last {
                    Some(i) => i,
                    None => *index.entry(key).or_insert_with(|| {
                        announced.push((attrs, family, Vec::new()));
                        announced.len() - 1
                    }),
                };
                announced[i].2.push(nlri);
            }
        }
    }
    let packer = UpdatePacker::new(ctx);
    let mut skipped = None;
    for (family, nlri) in &withdrawn {
        if let Err(e) = all_or_nothing(out, |out| packer.withdraw(*family, nlri, out)) {
            skipped.get_or_insert(e);
        }
    }
    for (attrs, family, nlri) in &announced {
        let announce = |path: &PathAttributes, out: &mut Vec<u8>| {
            packer.announce(path, *family, attrs.mp_next_hop(), nlri, out)
        };
        let path = attrs.path_attributes();
        if let Err(e) = all_or_nothing(out, |out| announce(&path, out)) {
            // RFC 8654 §4: first try without the attributes RFC 7606 handles
            // by "attribute discard" (ATOMIC_AGGREGATE, AGGREGATOR, and with
            // it AS4_AGGREGATOR): a route just over the size still goes out.
            if let Some(lean) = discarded(path)
                && all_or_nothing(out, |out| announce(&lean, out)).is_ok()
            {
                tracing::debug!(error = %e, "sent some routes without ATOMIC_AGGREGATE and AGGREGATOR to fit");
                continue;
            }
            skipped.get_or_insert(e);
            if let Err(e) = all_or_nothing(out, |out| packer.withdraw(*family, nlri, out)) {
                // Not expected: an announced family can be withdrawn.
                tracing::debug!(error = %e, "a route that cannot be encoded cannot be withdrawn either");
            }
        }
    }
    for family in end_of_rib {
        packer.end_of_rib(*family, out);
    }
    skipped
}

/// `path` without the attributes that RFC 7606 treats by "attribute discard",
/// if it has any.
fn discarded(mut path: PathAttributes) -> Option<PathAttributes> {
    if !path.atomic_aggregate && path.aggregator.is_none() {
        return None;
    }
    path.atomic_aggregate = false;
    path.aggregator = None;
    Some(path)
}

/// `encode` appending to `out`; on failure, nothing of it is left in `out`.
fn all_or_nothing(
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    encode(out).inspect_err(|_| out.truncate(start))
}

pub fn family_of(nlri: &Nlri) -> AfiSafi {
    match nlri.prefix {
        ipnet::IpNet::V4(_) => AfiSafi::IPV4_UNICAST,
        ipnet::IpNet::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kumo_rib::RouteAttrs;
    use kumo_wire::{Message, decode_message, frame};

    fn nlri(s: &str) -> Nlri {
        Nlri {
            prefix: s.parse().unwrap(),
            path_id: None,
        }
    }

    fn attrs(med: u32) -> Attrs {
        let mut a = RouteAttrs::default();
        a.attrs.med = Some(med);
        a.attrs.next_hop = Some([192, 0, 2, 1].into());
        a.attrs.as_path = Some(kumo_wire::AsPath::from(vec![kumo_wire::AsPathSegment::Sequence(
            vec![64500],
        )]));
        Attrs::from(a)
    }

    /// What a client holds after receiving `batch`'s bytes: prefix -> MED.
    fn apply(batch: &Batch, held: &mut std::collections::BTreeMap<Nlri, Option<u32>>) -> Vec<AfiSafi> {
        let ctx = CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        };
        let mut bytes = Vec::new();
        for share in &batch.shares {
            bytes.extend_from_slice(&share_bytes(share, &ctx));
        }
        let skipped = encode_routes(
            batch.routes.iter().map(|(n, a)| (*n, a.as_ref())),
            &batch.end_of_rib,
            &ctx,
            &mut bytes,
        );
        assert_eq!(skipped, None);
        let (changes, eor) = changes_in(&bytes);
        for (n, change) in changes {
            match change {
                Some(med) => held.insert(n, med),
                None => held.remove(&n),
            };
        }
        eor
    }

    /// What a writer sends of `share` for `ctx`: from the shared encoding,
    /// or its own pieces encoded anew for another context.
    fn share_bytes(share: &Share, ctx: &CodecContext) -> Vec<u8> {
        let segment = share.segment();
        match segment.shared_encoding(ctx) {
            Some(encoding) => share
                .slices(encoding, usize::MAX)
                .flat_map(|(s, _)| s.to_vec())
                .collect(),
            None => {
                let mut out = Vec::new();
                for i in share.piece_indices() {
                    assert_eq!(segment.encode_piece(i, ctx, &mut out).1, None);
                }
                out
            }
        }
    }

    /// `changes` as one client's share of a fan-out.
    fn shared(changes: impl IntoIterator<Item = Route>) -> Share {
        let mut fanout = Fanout::default();
        fanout.run(changes, [0]);
        let mut shares = Vec::new();
        fanout.finish(|_, share| shares.push(share));
        assert_eq!(shares.len(), 1);
        shares.remove(0)
    }

    #[test]
    fn a_segment_counts_the_updates_it_encodes_for_every_context() {
        // Two attribute sets and a withdrawal: at least three UPDATEs.
        let mut changes: Vec<Route> = (0..40)
            .map(|i| (nlri(&format!("10.0.{i}.0/24")), Some(attrs(i % 2))))
            .collect();
        changes.push((nlri("10.1.0.0/24"), None));
        let share = shared(changes);
        let segment = share.segment();
        let frames = |bytes: &[u8]| {
            let mut rest = bytes;
            let mut n = 0;
            while let Some(f) = frame(rest, 4096).unwrap() {
                rest = &rest[f.message.len()..];
                n += 1;
            }
            assert!(rest.is_empty());
            n
        };
        let four = CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        };
        // The shared encoding (first context, asked twice: the same one).
        let shared = segment.shared_encoding(&four).unwrap();
        let (bytes, messages) = shared.whole();
        assert!(messages >= 3);
        assert_eq!(messages, frames(bytes));
        assert!(std::ptr::eq(shared, segment.shared_encoding(&four).unwrap()));
        // Another context has no shared encoding; its pieces count as they encode.
        let two = CodecContext::default();
        assert!(segment.shared_encoding(&two).is_none());
        let mut bytes = Vec::new();
        let messages: u64 = (0..segment.pieces())
            .map(|i| segment.encode_piece(i, &two, &mut bytes))
            .map(|(n, skipped)| {
                assert_eq!(skipped, None);
                n
            })
            .sum();
        assert!(messages >= 3);
        assert_eq!(messages, frames(&bytes));
        assert_eq!(count_messages(&[]), 0);
    }

    #[tokio::test]
    async fn shared_segments_reach_each_queue_in_order() {
        let (a, b) = (attrs(1), attrs(2));
        // 300 routes, then a second change of the first: three segments of
        // at most SEGMENT_MAX, and the repeated NLRI in a later one.
        let mut changes: Vec<Route> = (0..300)
            .map(|i| (nlri(&format!("10.{}.{}.0/24", i / 256, i % 256)), Some(a.clone())))
            .collect();
        changes.push((nlri("10.0.0.0/24"), Some(b.clone())));
        let share = shared(changes.clone());
        let segment = share.segment();
        assert_eq!(
            (0..segment.pieces())
                .map(|i| segment.piece(i).len())
                .collect::<Vec<_>>(),
            vec![SEGMENT_MAX, SEGMENT_MAX, 300 - 2 * SEGMENT_MAX + 1]
        );
        assert!(share.routes().eq(changes.iter()));
        let (q1, q2) = (OutQueue::new(), OutQueue::new());
        q1.push([(nlri("192.0.2.0/24"), Some(b.clone()))]);
        for q in [&q1, &q2] {
            q.push_shared([share.clone()]);
        }
        let (mut held1, mut held2) = (Default::default(), Default::default());
        let (batch1, batch2) = (q1.next_batch().await, q2.next_batch().await);
        apply(&batch1, &mut held1);
        apply(&batch2, &mut held2);
        assert_eq!(held1.len(), 301);
        assert_eq!(held1.get(&nlri("10.0.0.0/24")), Some(&Some(2)));
        held1.remove(&nlri("192.0.2.0/24"));
        assert_eq!(held1, held2);
        // The same segment, not copies.
        assert!(Arc::ptr_eq(
            batch1.shares[1].segment(),
            batch2.shares[0].segment()
        ));
    }

    /// What a client holds after `changes`, applied in order: prefix -> MED.
    fn replay<'a>(
        changes: impl IntoIterator<Item = &'a Route>,
    ) -> std::collections::BTreeMap<Nlri, Option<u32>> {
        let mut held = std::collections::BTreeMap::new();
        for (nlri, attrs) in changes {
            match attrs {
                Some(a) => held.insert(*nlri, a.med()),
                None => held.remove(nlri),
            };
        }
        held
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Runs for any receivers, cut into one segment: each client's share
        /// is exactly its runs' changes in order, as few ranges as its runs
        /// make blocks, and its slices (of any size limit) carry whole
        /// UPDATEs that bring the client to the same state.
        #[test]
        fn a_fanout_gives_each_client_its_runs_in_order(
            runs in proptest::collection::vec(
                (proptest::collection::vec((0u32..40, 0u32..4), 0..300), 0u8..16),
                1..8,
            ),
            max in 1usize..20_000,
        ) {
            const CLIENTS: usize = 4;
            let sets: Vec<Attrs> = (0..3).map(attrs).collect();
            let runs: Vec<(Vec<Route>, u8)> = runs
                .into_iter()
                .map(|(routes, mask)| {
                    let routes = routes
                        .into_iter()
                        .map(|(p, a)| (nlri(&format!("10.0.{p}.0/24")), sets.get(a as usize).cloned()))
                        .collect();
                    (routes, mask)
                })
                .collect();
            let mut fanout = Fanout::default();
            for (routes, mask) in &runs {
                fanout.run(routes.iter().cloned(), (0..CLIENTS).filter(|c| mask & (1 << c) != 0));
            }
            let mut shares: Vec<Option<Share>> = vec![None; CLIENTS];
            fanout.finish(|c, share| shares[c] = Some(share));
            let ctx = CodecContext { four_octet_as: true, ..CodecContext::default() };
            for (c, share) in shares.iter().enumerate() {
                let mine: Vec<&(Vec<Route>, u8)> = runs.iter().filter(|(_, m)| m & (1 << c) != 0).collect();
                let expected: Vec<&Route> = mine.iter().flat_map(|(r, _)| r.iter()).collect();
                let Some(share) = share else {
                    proptest::prop_assert!(expected.is_empty());
                    continue;
                };
                proptest::prop_assert!(share.routes().eq(expected.iter().copied()));
                proptest::prop_assert_eq!(share.len(), expected.len());
                // One range per block of consecutive runs sent to it (empty runs add no piece).
                let blocks = runs
                    .iter()
                    .filter(|(r, _)| !r.is_empty())
                    .map(|(_, m)| m & (1 << c) != 0)
                    .collect::<Vec<_>>()
                    .windows(2)
                    .filter(|w| !w[0] && w[1])
                    .count()
                    + usize::from(runs.iter().find(|(r, _)| !r.is_empty()).is_some_and(|(_, m)| m & (1 << c) != 0));
                // A small part of the batch is copied into a segment of its
                // own, in one range; the others share the batch's segment.
                let total: usize = runs.iter().map(|(r, _)| r.len()).sum();
                if expected.len() * PRIVATE_BELOW < total {
                    proptest::prop_assert_eq!(share.pieces.len(), 1);
                    proptest::prop_assert_eq!(share.segment().routes.len(), expected.len());
                } else {
                    proptest::prop_assert_eq!(share.pieces.len(), blocks);
                    proptest::prop_assert_eq!(share.segment().routes.len(), total);
                }
                let encoding = share.segment().shared_encoding(&ctx).unwrap();
                let mut bytes = Vec::new();
                let mut messages = 0;
                for (slice, n) in share.slices(encoding, max) {
                    // Longer than `max` only when it is one piece.
                    let frames = std::iter::successors(Some(slice), |rest| {
                        frame(rest, 4096).unwrap().map(|f| &rest[f.message.len()..])
                    })
                    .count()
                        - 1;
                    proptest::prop_assert_eq!(frames as u64, n);
                    proptest::prop_assert!(
                        slice.len() <= max || encoding.at.windows(2).any(|w| w[1] - w[0] == slice.len()),
                        "slice of {} octets over {max}", slice.len()
                    );
                    bytes.extend_from_slice(slice);
                    messages += n;
                }
                let mut held = std::collections::BTreeMap::new();
                let mut rest = &bytes[..];
                let mut count = 0;
                while let Some(f) = frame(rest, 4096).unwrap() {
                    let len = f.message.len();
                    let Message::Update(u) = decode_message(f.message, &ctx).unwrap().message else {
                        panic!("not an UPDATE")
                    };
                    for n in u.withdrawn.iter() {
                        held.remove(n);
                    }
                    for n in u.nlri.iter() {
                        held.insert(*n, u.attributes.med);
                    }
                    rest = &rest[len..];
                    count += 1;
                }
                proptest::prop_assert!(rest.is_empty());
                proptest::prop_assert_eq!(count, messages);
                proptest::prop_assert_eq!(held, replay(expected.iter().copied()));
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dispatched_wakeups_wake_every_writer_the_core_pushed_to() {
        let mut wakeups = WriterWakeups::dispatched(&tokio::runtime::Handle::current());
        let queues: Vec<Arc<OutQueue>> = (0..3).map(|_| Arc::new(OutQueue::new())).collect();
        let writers: Vec<_> = queues
            .iter()
            .map(|q| {
                let q = q.clone();
                tokio::spawn(async move { q.next_batch().await.shares.len() })
            })
            .collect();
        // The writers wait; a quiet push does not wake them.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for q in &queues {
            q.push_shared_quietly([shared(table(10, &attrs(1)))]);
            wakeups.add(q);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(writers.iter().all(|w| !w.is_finished()));
        wakeups.wake();
        for w in writers {
            let taken = tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("woken")
                .expect("task");
            assert_eq!(taken, 1);
        }
        drop(wakeups);
    }

    #[test]
    fn a_route_that_cannot_be_encoded_is_withdrawn_from_the_clients_sent_it_and_nothing_else() {
        let huge = too_big_for_4096();
        let mut fanout = Fanout::default();
        fanout.run(table(40, &attrs(1)), [0, 1]);
        // In the same piece as the huge route: a route that encodes.
        let beside = (nlri("198.51.100.128/25"), Some(attrs(2)));
        fanout.run([(nlri("198.51.100.0/24"), Some(huge)), beside.clone()], [1]);
        let mut shares = Vec::new();
        fanout.finish(|_, share| shares.push(share));
        let plain = CodecContext::default();
        let encoding = shares[0].segment().shared_encoding(&plain).unwrap();
        assert_eq!(shares[0].failures(encoding).count(), 0);
        assert!(matches!(
            shares[1].failures(encoding).next(),
            Some(EncodeError::TooLong { .. })
        ));
        // Client 1 still gets every other route of the batch, whole UPDATEs,
        // and the huge route's prefix withdrawn (RFC 8654 §4).
        let sent: Vec<u8> = shares[1]
            .slices(encoding, usize::MAX)
            .flat_map(|(s, _)| s.to_vec())
            .collect();
        let (mut expected, _) = changes_in(&share_bytes(&shares[0], &plain));
        expected.push((nlri("198.51.100.0/24"), None));
        expected.push((beside.0, Some(Some(2))));
        assert_eq!(changes_in(&sent).0, expected);
        // With extended messages the piece encodes whole: two UPDATEs.
        let extended = CodecContext {
            extended_message: true,
            ..CodecContext::default()
        };
        assert!(shares[1].segment().shared_encoding(&extended).is_none());
        let mut out = Vec::new();
        assert_eq!(
            shares[1].segment().encode_piece(1, &extended, &mut out),
            (2, None)
        );
    }

    #[test]
    fn a_coalesced_batch_keeps_the_routes_around_one_that_cannot_be_encoded_and_withdraws_it() {
        let huge = too_big_for_4096();
        let (a, b) = (attrs(1), attrs(2));
        let routes = [
            (nlri("198.51.100.0/25"), Some(&a)),
            (nlri("198.51.100.0/24"), Some(&huge)),
            (nlri("203.0.113.0/24"), None),
            (nlri("198.51.100.128/25"), Some(&b)),
        ];
        let plain = CodecContext::default();
        let mut bytes = Vec::new();
        let skipped = encode_routes(
            routes.iter().cloned(),
            &[AfiSafi::IPV4_UNICAST],
            &plain,
            &mut bytes,
        );
        assert!(matches!(skipped, Some(EncodeError::TooLong { .. })));
        let (mut got, _) = changes_in(&bytes);
        got.sort();
        let mut expected = vec![
            (routes[0].0, Some(Some(1))),
            (routes[1].0, None),
            (routes[2].0, None),
            (routes[3].0, Some(Some(2))),
        ];
        expected.sort();
        assert_eq!(got, expected);
        // End-of-RIB last, as before.
        let mut eor = Vec::new();
        kumo_wire::encode_end_of_rib(AfiSafi::IPV4_UNICAST, &mut eor);
        assert!(bytes.ends_with(&eor));
    }

    #[test]
    fn a_route_just_too_big_goes_out_without_its_discardable_attributes() {
        let mut just = RouteAttrs::default();
        just.attrs.next_hop = Some([192, 0, 2, 9].into());
        just.attrs.atomic_aggregate = true;
        just.attrs.aggregator = Some(kumo_wire::Aggregator {
            asn: 64501,
            address: [192, 0, 2, 1].into(),
        });
        let mut lean = just.attrs.clone();
        (lean.atomic_aggregate, lean.aggregator) = (false, None);
        let ctx = CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        };
        let route = nlri("198.51.100.0/24");
        let encode = |path: &PathAttributes| {
            UpdatePacker::new(&ctx).announce(path, AfiSafi::IPV4_UNICAST, None, &[route], &mut Vec::new())
        };
        // As many communities as fit without the two attributes.
        while encode(&lean).is_ok() {
            lean.communities.push(lean.communities.len() as u32);
        }
        lean.communities.pop();
        just.attrs.communities = lean.communities.clone();
        assert!(
            encode(&just.attrs).is_err(),
            "the route must be too big with them"
        );
        let just = Attrs::from(just);

        let mut bytes = Vec::new();
        let skipped = encode_routes([(route, Some(&just))].into_iter(), &[], &ctx, &mut bytes);
        assert!(skipped.is_none(), "{skipped:?}");
        let f = frame(&bytes, 4096).unwrap().expect("one whole UPDATE");
        assert_eq!(f.message.len(), bytes.len());
        let Message::Update(u) = decode_message(f.message, &ctx).unwrap().message else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.nlri, [route]);
        assert_eq!(u.attributes, lean);
    }

    /// 1,200 communities: 4,800 octets, more than a 4,096-octet message.
    fn too_big_for_4096() -> Attrs {
        let mut huge = RouteAttrs::default();
        huge.attrs.next_hop = Some([192, 0, 2, 9].into());
        huge.attrs.communities = (0..1200u32).collect();
        // Still too big without the attributes RFC 7606 discards.
        huge.attrs.atomic_aggregate = true;
        huge.attrs.aggregator = Some(kumo_wire::Aggregator {
            asn: 64501,
            address: [192, 0, 2, 1].into(),
        });
        Attrs::from(huge)
    }

    /// A prefix and `Some(MED)` when announced, `None` when withdrawn.
    type Change = (Nlri, Option<Option<u32>>);

    /// The route changes in whole UPDATEs `bytes` (4-octet AS), in order,
    /// and the families of the End-of-RIB markers.
    fn changes_in(bytes: &[u8]) -> (Vec<Change>, Vec<AfiSafi>) {
        let ctx = CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        };
        let (mut changes, mut eor) = (Vec::new(), Vec::new());
        let mut rest = bytes;
        while let Some(f) = frame(rest, 4096).unwrap() {
            rest = &rest[f.message.len()..];
            let Message::Update(u) = decode_message(f.message, &ctx).unwrap().message else {
                panic!("not an UPDATE")
            };
            eor.extend(u.end_of_rib());
            let withdrawn = u
                .withdrawn
                .iter()
                .chain(u.mp_unreach.iter().flat_map(|m| m.nlri.iter()));
            changes.extend(withdrawn.map(|n| (*n, None)));
            let announced = u.nlri.iter().chain(u.mp_reach.iter().flat_map(|m| m.nlri.iter()));
            changes.extend(announced.map(|n| (*n, Some(u.attributes.med))));
        }
        assert!(rest.is_empty());
        (changes, eor)
    }

    #[tokio::test]
    async fn a_huge_share_is_taken_a_bounded_part_at_a_time() {
        let q = OutQueue::new();
        let changes = table(20_000, &attrs(3));
        q.push_shared([shared(changes.clone())]);
        let mut taken: Vec<Route> = Vec::new();
        let mut batches = 0;
        while !q.is_empty() {
            let batch = q.next_batch().await;
            let routes: usize = batch.shares.iter().map(Share::len).sum();
            assert!(routes <= TAKE_MAX + SEGMENT_MAX, "{routes} routes taken at once");
            assert_eq!(q.len(), 20_000 - taken.len() - routes, "the rest stays queued");
            taken.extend(batch.shares.iter().flat_map(|s| s.routes().cloned()));
            batches += 1;
        }
        assert!(batches >= 3);
        assert_eq!(taken, changes);
    }

    #[tokio::test]
    async fn latest_change_per_route_wins_in_order() {
        let q = OutQueue::new();
        let (a, b) = (attrs(1), attrs(2));
        q.push([
            (nlri("10.0.0.0/24"), Some(a.clone())),
            (nlri("10.0.1.0/24"), Some(a.clone())),
            (nlri("10.0.0.0/24"), Some(b.clone())),
        ]);
        q.push([
            (nlri("10.0.1.0/24"), None),
            (nlri("10.0.2.0/24"), Some(b.clone())),
        ]);
        q.push([(nlri("10.0.1.0/24"), Some(b.clone()))]);
        q.push_end_of_rib(AfiSafi::IPV4_UNICAST);
        let batch = q.next_batch().await;
        let mut held = Default::default();
        let eor = apply(&batch, &mut held);
        let expected: std::collections::BTreeMap<_, _> = [
            (nlri("10.0.0.0/24"), Some(2)),
            (nlri("10.0.1.0/24"), Some(2)),
            (nlri("10.0.2.0/24"), Some(2)),
        ]
        .into();
        assert_eq!(held, expected);
        assert_eq!(eor, vec![AfiSafi::IPV4_UNICAST]);
        assert_eq!(q.len(), 0);
    }

    fn table(n: u32, a: &Attrs) -> Vec<Route> {
        (0..n)
            .map(|i| (nlri(&format!("10.{}.{}.0/24", i / 256, i % 256)), Some(a.clone())))
            .collect()
    }

    #[tokio::test]
    async fn clients_sent_the_same_changes_share_segments() {
        let a = attrs(7);
        let all = table(2000, &a);
        // The second client is not sent three routes (its own).
        let mut fewer = all.clone();
        fewer.remove(1500);
        fewer.remove(700);
        fewer.remove(10);
        let (q1, q2) = (OutQueue::new(), OutQueue::new());
        q1.push(all.iter().cloned());
        q2.push(fewer.iter().cloned());
        let (b1, b2) = (q1.next_batch().await, q2.next_batch().await);
        let s1: Vec<*const Segment> = b1.shares.iter().map(|s| Arc::as_ptr(s.segment())).collect();
        let shared = b2
            .shares
            .iter()
            .filter(|s| s1.contains(&Arc::as_ptr(s.segment())))
            .count();
        assert!(b1.shares.len() > 20, "{} segments", b1.shares.len());
        // At most the segments holding a missing route (and the next, if a
        // missing route was a boundary) differ.
        assert!(
            shared + 6 >= b2.shares.len(),
            "{shared} of {} segments shared",
            b2.shares.len()
        );
        let (mut h1, mut h2) = (Default::default(), Default::default());
        apply(&b1, &mut h1);
        apply(&b2, &mut h2);
        assert_eq!(h1.len(), 2000);
        assert_eq!(h2.len(), 1997);
    }

    #[tokio::test]
    async fn a_stalled_writer_gets_one_entry_per_route() {
        let mut q = OutQueue::new();
        q.stall = Duration::ZERO;
        // The writer took once, then found the client's socket full.
        q.push(table(10, &attrs(0)));
        let _ = q.next_batch().await;
        q.writer_blocked();
        for wave in 1..=4 {
            q.push(table(500, &attrs(wave)));
        }
        assert_eq!(q.len(), 500, "coalesced to the latest state per route");
        let batch = q.next_batch().await;
        let mut held = Default::default();
        apply(&batch, &mut held);
        assert_eq!(held.len(), 500);
        assert!(held.values().all(|med| *med == Some(4)));
        // Taken, and the client reads again: the queue shares segments again.
        q.writer_progress();
        q.push(table(10, &attrs(9)));
        assert!(q.lock().routes.is_empty());
    }

    #[tokio::test]
    async fn a_stalled_writer_is_coalesced_only_once_it_is_behind_everyone() {
        let mut stuck = OutQueue::new();
        stuck.stall = Duration::ZERO;
        let other = OutQueue::new();
        stuck.writer_blocked();
        for wave in 1..=4 {
            let share = shared(table(500, &attrs(wave)));
            stuck.push_shared([share.clone()]);
            other.push_shared([share]);
        }
        // The other client waits for the same segments: keeping them costs
        // nothing more than a per-route map would.
        assert_eq!(stuck.len(), 2000);
        assert!(stuck.lock().routes.is_empty());
        // The other client has taken (and sent) everything: now the stuck
        // one alone holds its backlog, and the next change coalesces it.
        drop(other.next_batch().await);
        stuck.push_shared([shared(table(500, &attrs(5)))]);
        assert_eq!(stuck.len(), 500, "coalesced to the latest state per route");
        let mut held = Default::default();
        apply(&stuck.next_batch().await, &mut held);
        assert!(held.values().all(|med| *med == Some(5)));
    }

    #[tokio::test]
    async fn backlog_counts_shared_route_changes_and_coalesces_who_is_left_behind() {
        let mut slow = OutQueue::new();
        slow.stall = Duration::ZERO;
        let other = OutQueue::new();
        for wave in 1..=4 {
            let share = shared(table(500, &attrs(wave)));
            slow.push_shared([share.clone()]);
            other.push_shared([share]);
        }
        let waiting = slow.backlog(usize::MAX, usize::MAX);
        assert_eq!(waiting, 2000, "route changes");
        // Others wait for the same segments: counted, never coalesced.
        assert_eq!(slow.backlog(0, 0), waiting);
        drop(other.next_batch().await);
        // Behind everyone, but within `behind`: still counted.
        assert_eq!(slow.backlog(usize::MAX, waiting), waiting);
        // Stalled, but its backlog (2,000 routes) is no longer than the table.
        slow.writer_blocked();
        assert_eq!(slow.backlog(2000, waiting), waiting);
        assert!(slow.lock().routes.is_empty());
        // Longer than the table: coalesced, and it no longer counts.
        assert_eq!(slow.backlog(1999, waiting), 0);
        assert_eq!(slow.len(), 500);
        // Not stalled, but more than `behind` route changes behind everyone.
        let late = OutQueue::new();
        late.push_shared([shared(table(500, &attrs(9)))]);
        assert_eq!(late.backlog(usize::MAX, 1), 0);
        assert_eq!(late.len(), 500);
    }

    #[tokio::test]
    async fn a_slow_writer_is_not_stalled() {
        let mut q = OutQueue::new();
        q.stall = Duration::ZERO;
        // The writer has not come back (busy CPU), but its socket has room.
        q.push(table(10, &attrs(0)));
        q.push(table(100, &attrs(1)));
        q.push(table(100, &attrs(2)));
        assert!(q.lock().routes.is_empty());
        assert_eq!(q.len(), 210);
    }
}
