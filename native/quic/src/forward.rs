//! Voice forwarding between native peers, inside the addon, by a table the SFU core pushes
//! (server/transports/quic/nativeVoice.ts, on every `routingchanged` of the core). The core
//! decides who hears whom (room, proximity, pause, concurrent_streams); this module only applies
//! its decision: for (sender connection, media id), the native receiver connections, whether
//! JavaScript must see the packet too (receivers on other transports), and the
//! `incoming_media_packets` token bucket of the media. A packet without an entry goes to
//! JavaScript as before, so a missing or late entry costs speed, never correctness.

use std::collections::HashMap;
use std::time::Instant;

pub struct Bucket {
    per_ms: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: f64, capacity: f64, now: Instant) -> Bucket {
        Bucket {
            per_ms: rate / 1000.0,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Same arithmetic as server/core/tokenBucket.ts.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64() * 1000.0;
        if elapsed > 0.0 {
            self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        }
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn same_params(&self, rate: f64, capacity: f64) -> bool {
        self.per_ms == rate / 1000.0 && self.capacity == capacity
    }
}

pub struct Route {
    pub receivers: Vec<u32>,
    pub to_js: bool,
    pub bucket: Option<Bucket>,
}

/// Read by metrics at scrape time (`stats()`), never per packet in JavaScript.
#[derive(Default)]
pub struct ForwardStats {
    /// Datagrams of native senders the table handled (forwarded, limited or dropped).
    pub received: u64,
    pub forwarded: u64,
    pub rate_limited: u64,
    /// Receivers whose datagram queue was full (or that were gone).
    pub dropped: u64,
    /// Table misses, by why; each of these datagrams takes the JavaScript path.
    /// Not a datagram of the sender's ODIN session (no session yet, or another prefix).
    pub miss_no_session: u64,
    /// The voice header is malformed (the core counts it as malformed in `voiceStats`).
    pub miss_malformed: u64,
    /// One packet naming several medias.
    pub miss_several_medias: u64,
    /// No entry for (sender, media).
    pub miss_no_route: u64,
    /// The part JavaScript never sees (no `to_js`, or refused by the bucket): metrics add it to
    /// the core's `voiceStats` so grid_voice_* count the same packets on both engines. Packets
    /// that also cross into JavaScript are counted there (the native receivers included).
    pub alone: AloneStats,
}

/// Same meaning as the fields of the core's `VoiceStats` (server/core/voiceRouter.ts).
#[derive(Default)]
pub struct AloneStats {
    pub received: u64,
    pub received_bytes: u64,
    pub forwarded: u64,
    pub forwarded_bytes: u64,
    pub send_queue_full: u64,
}

#[derive(Default)]
pub struct Table {
    routes: HashMap<(u32, u16), Route>,
    pub stats: ForwardStats,
}

impl Table {
    /// The core's decision for one media; the bucket keeps its tokens across updates.
    pub fn set(
        &mut self,
        sender: u32,
        media: u16,
        receivers: Vec<u32>,
        to_js: bool,
        rate: Option<(f64, f64)>,
        now: Instant,
    ) {
        let old = self.routes.remove(&(sender, media));
        let bucket = match (rate, old.and_then(|r| r.bucket)) {
            (None, _) => None,
            (Some((rate, capacity)), Some(b)) if b.same_params(rate, capacity) => Some(b),
            (Some((rate, capacity)), _) => Some(Bucket::new(rate, capacity, now)),
        };
        self.routes.insert(
            (sender, media),
            Route {
                receivers,
                to_js,
                bucket,
            },
        );
    }

    pub fn remove(&mut self, sender: u32, media: u16) {
        self.routes.remove(&(sender, media));
    }

    /// A connection is gone: its routes as a sender (as a receiver it is skipped when sending).
    pub fn forget(&mut self, conn: u32) {
        self.routes.retain(|&(sender, _), _| sender != conn);
    }

    pub fn get_mut(&mut self, sender: u32, media: u16) -> Option<&mut Route> {
        self.routes.get_mut(&(sender, media))
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }
}
