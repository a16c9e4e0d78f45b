//! The endpoint's state: one UDP socket, the quiche connections routed by destination
//! connection id (RFC 9000 section 5.2), their timers, and the queue of events for JavaScript.
//! Everything here runs on the JavaScript thread (called from `lib.rs`), so no locks.
//!
//! What stays in JavaScript (server/transports/quic/nativeEndpoint.ts): the answers given
//! without state (Retry, Version Negotiation, stateless reset: statelessResponder.ts gets the
//! rare packet for no known connection as an `unknown` event and calls `accept`), HTTP/3,
//! WebTransport and ODIN.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::events::{CloseError, Event, EventKind};
use crate::forward::Table;
use crate::io::{RecvBatch, SendBatch};
use crate::voice::read_voice_header;

/// Our connection ids are always this long (quiche.ts CONNECTION_ID_LENGTH).
pub const CONNECTION_ID_LENGTH: usize = 16;
/// Largest UDP payload we send or accept (quiche.ts MAX_UDP_PAYLOAD).
pub const MAX_UDP_PAYLOAD: usize = 1350;
/// Packets read per `poll()` at most, so one busy socket cannot hold the event loop.
const MAX_PACKETS_PER_POLL: usize = 4096;
/// How long an ACK may wait for a packet to ride on (delayed ACKs, RFC 9000 section 13.2.1).
/// A voice sender is usually a receiver too: its ACK then goes out with the next datagram
/// forwarded to it instead of in a packet of its own. Below the 25 ms max_ack_delay we
/// announce (quiche's default), so the peer's loss detection allows for it.
pub const ACK_DELAY: Duration = Duration::from_millis(20);

#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub not_quic: u64,
    pub migration_refused: u64,
    pub connections_accepted: u64,
    pub connections_closed: u64,
    /// Datagrams dropped after waiting longer than pre_send_timeout.
    pub datagrams_expired: u64,
    /// Flushes of a connection that only owed an ACK, put off (ACK_DELAY).
    pub acks_delayed: u64,
    /// `poll()` calls (packets_in / polls is the receive batching achieved).
    pub polls: u64,
    /// Connections whose timer fired (quiche, keep-alive, pre_send, delayed ACK).
    pub timers_fired: u64,
}

pub struct Conn {
    pub q: quiche::Connection,
    pub peer: SocketAddr,
    pub routing_keys: Vec<Vec<u8>>,
    pub established: bool,
    pub last_activity: Instant,
    /// The quarter stream id (RFC 9297 section 2.1) that starts this connection's ODIN voice
    /// datagrams, once its WebTransport session has a client (nativeVoice.ts sets it).
    pub session_prefix: Option<Vec<u8>>,
    /// When quiche's datagram queue was first seen non-empty after a send (pre_send_timeout).
    pub dgram_blocked_since: Option<Instant>,
    /// Received packets that only need an ACK wait until then for something to ride with.
    pub ack_due: Option<Instant>,
    /// This connection's live entry in the endpoint's timer heap (see `Endpoint::timers`).
    scheduled: Option<Instant>,
    /// In `Endpoint::dirty` (a flag instead of searching the list: a poll that forwards to
    /// hundreds of receivers marks each many times).
    dirty: bool,
    /// Client role, load generator: received datagrams go to `Endpoint::sink` (client.rs),
    /// not to JavaScript one event each.
    pub voice_sink: bool,
}

impl Conn {
    /// The earliest of quiche's timer, the keep-alive PING, pre_send_timeout and the delayed
    /// ACK.
    fn deadline(
        &self,
        keep_alive: Option<Duration>,
        pre_send: Option<Duration>,
    ) -> Option<Instant> {
        let mut at = self.q.timeout_instant();
        let mut earliest = |t: Instant| at = Some(at.map_or(t, |a: Instant| a.min(t)));
        if let (Some(every), true) = (keep_alive, self.established) {
            earliest(self.last_activity + every);
        }
        if let (Some(since), Some(limit)) = (self.dgram_blocked_since, pre_send) {
            earliest(since + limit);
        }
        if let Some(due) = self.ack_due {
            earliest(due);
        }
        at
    }
}

/// What the forwarding table did with a native peer's datagram.
enum Forwarded {
    /// Not for the table (no entry, not voice, several medias): JavaScript routes it.
    No,
    /// Handled entirely in the addon (forwarded, or dropped by the bucket).
    Done,
    /// Forwarded to the native receivers; JavaScript sends it to the others.
    AlsoJs,
}

pub struct Endpoint {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub config: quiche::Config,
    /// Boxed: a quiche::Connection is 7.8 KB, and a map of them inline keeps that much in
    /// every empty slot (up to half the table after it grows): 10–18 KB per connection
    /// instead of 7.8 (measured with heaptrack, docs/native-quic.md).
    pub conns: HashMap<u32, Box<Conn>>,
    routes: HashMap<Vec<u8>, u32>,
    next_id: u32,
    pub events: Vec<Event>,
    dirty: Vec<u32>,
    /// Connection deadlines, earliest first, so a poll looks at the connections that are due
    /// instead of all of them (with hundreds of peers, scanning every connection's timer on
    /// each poll was the largest cost of the path). Lazy: an entry is live when it equals its
    /// connection's `scheduled`; a deadline that moves later keeps the earlier entry, which
    /// then fires early, finds nothing due and reschedules.
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// The time of the current receive batch (one clock read per batch, not per packet).
    now: Instant,
    pub migration: bool,
    pub keep_alive: Option<Duration>,
    /// pre_send_timeout: datagrams waiting in quiche's queue longer than this are dropped.
    pub pre_send: Option<Duration>,
    pub stats: Stats,
    /// ACK_DELAY, or None to acknowledge in the same flush (the benchmark compares both).
    pub ack_delay: Option<Duration>,
    pub table: Table,
    /// Stamps of the datagrams of `voice_sink` connections (client.rs, load generator).
    pub sink: crate::client::VoiceSink,
    /// Scratch for one forwarded datagram (the receiver's prefix + the voice bytes).
    forward_buf: Vec<u8>,
    /// Scratch for one received datagram or stream chunk.
    stream_buf: Vec<u8>,
    /// Scratch for packets JavaScript hands in (accept, redeliver); rare, not the hot path.
    packet_buf: Vec<u8>,
    rx: RecvBatch,
    pub tx: SendBatch,
}

impl Endpoint {
    pub fn new(
        socket: UdpSocket,
        config: quiche::Config,
        migration: bool,
        keep_alive_ms: u32,
        pre_send_ms: u32,
    ) -> std::io::Result<Endpoint> {
        let local = socket.local_addr()?;
        let fd = socket.as_raw_fd();
        crate::io::enable_gro(fd);
        let gso = crate::io::gso_supported(fd);
        Ok(Endpoint {
            socket,
            local,
            config,
            conns: HashMap::new(),
            routes: HashMap::new(),
            next_id: 1,
            events: Vec::new(),
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
            now: Instant::now(),
            migration,
            keep_alive: if keep_alive_ms == 0 {
                None
            } else {
                Some(Duration::from_millis(keep_alive_ms.into()))
            },
            pre_send: if pre_send_ms == 0 {
                None
            } else {
                Some(Duration::from_millis(pre_send_ms.into()))
            },
            stats: Stats::default(),
            ack_delay: Some(ACK_DELAY),
            table: Table::default(),
            sink: crate::client::VoiceSink::default(),
            forward_buf: vec![0; 65536],
            stream_buf: vec![0; 65536],
            packet_buf: vec![0; 65536],
            rx: RecvBatch::new(),
            tx: SendBatch::new(gso),
        })
    }

    /// Reads the socket until it would block (or the per-poll cap), batched (recvmmsg), then
    /// runs due timers and sends what every touched connection has, once per connection and
    /// in as few sendmmsg calls as the batch allows.
    pub fn poll(&mut self) -> bool {
        self.stats.polls += 1;
        let mut drained = false;
        let mut read = 0;
        let fd = self.socket.as_raw_fd();
        // The batch leaves `self` while its datagrams are handled (on_packet needs `self`):
        // moving it copies a few pointers; `take` leaves an empty batch, no allocation.
        let mut rx = std::mem::take(&mut self.rx);
        while read < MAX_PACKETS_PER_POLL {
            match rx.recv(fd) {
                Ok(n) => {
                    read += n;
                    self.now = Instant::now();
                    rx.for_each(|packet, from| self.on_packet(packet, from));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                // ICMP errors (port unreachable of a peer) surface here on Linux: not fatal,
                // but counted against the cap so a socket that keeps failing cannot spin.
                Err(_) => read += 1,
            }
        }
        self.rx = rx;
        self.run_timers(Instant::now());
        self.flush();
        drained
    }

    fn on_packet(&mut self, packet: &mut [u8], from: SocketAddr) {
        self.stats.packets_in += 1;
        let id = match short_header_dcid(packet) {
            // The hot path: a 1-RTT packet, its DCID at a fixed place (RFC 9000 section 17.3).
            Some(dcid) => self.routes.get(dcid).copied(),
            None => match quiche::Header::from_slice(packet, CONNECTION_ID_LENGTH) {
                Ok(header) => self.routes.get(header.dcid.as_ref()).copied(),
                Err(_) => {
                    self.stats.not_quic += 1;
                    return;
                }
            },
        };
        let Some(id) = id else {
            // No connection: statelessResponder.ts decides (Retry, reset, new connection).
            self.events.push(Event::unknown(packet.to_vec(), from));
            return;
        };
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if !self.migration && from != conn.peer {
            self.stats.migration_refused += 1;
            return;
        }
        self.receive(id, packet, from);
    }

    /// A packet JavaScript got as `unknown` whose connection was accepted since (the second
    /// Initial datagram of a ClientHello too big for one, read in the same batch as the
    /// first): fed to that connection. False when its DCID still names no connection.
    pub fn redeliver(&mut self, packet: &[u8], from: SocketAddr) -> bool {
        self.now = Instant::now();
        if packet.len() > self.packet_buf.len() {
            return false;
        }
        let dcid = {
            let mut copy = packet.to_vec();
            match quiche::Header::from_slice(&mut copy, CONNECTION_ID_LENGTH) {
                Ok(header) => header.dcid.to_vec(),
                Err(_) => return false,
            }
        };
        let Some(&id) = self.routes.get(&dcid) else {
            return false;
        };
        if !self.migration && self.conns.get(&id).is_some_and(|c| from != c.peer) {
            self.stats.migration_refused += 1;
            return true;
        }
        let mut buf = std::mem::take(&mut self.packet_buf);
        buf[..packet.len()].copy_from_slice(packet);
        self.receive(id, &mut buf[..packet.len()], from);
        self.packet_buf = buf;
        true
    }

    /// Feeds `packet` to connection `id` and queues what it produced: stream events first
    /// (a session's CONNECT can share a packet with its first datagrams), then each datagram,
    /// forwarded by the table or queued for JavaScript.
    fn receive(&mut self, id: u32, packet: &mut [u8], from: SocketAddr) {
        let local = self.local;
        let events_before = self.events.len();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let info = quiche::RecvInfo { from, to: local };
        // An error means quiche dropped the packet or closed the connection (sent in the flush).
        let _ = conn.q.recv(packet, info);
        conn.last_activity = self.now;
        if !conn.established && conn.q.is_established() {
            conn.established = true;
            self.events.push(Event::of(EventKind::Established, id));
        }
        let open = conn.established && !conn.q.is_closed();
        // Read while `conn` is borrowed here: no second map lookup per packet further down.
        let sink = conn.voice_sink;
        if open {
            // Empty for datagram-only packets: collecting allocates nothing then.
            let readable: Vec<u64> = conn.q.readable().collect();
            for stream in readable {
                loop {
                    match conn.q.stream_recv(stream, &mut self.stream_buf) {
                        Ok((n, fin)) => {
                            self.events.push(Event::stream_data(
                                id,
                                stream,
                                self.stream_buf[..n].to_vec(),
                                fin,
                            ));
                            if fin {
                                break;
                            }
                        }
                        Err(quiche::Error::StreamReset(code)) => {
                            self.events.push(Event::aborted(
                                id,
                                stream,
                                code,
                                EventKind::StreamReset,
                            ));
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        let mut to_js = false;
        let mut datagrams = 0;
        if open {
            // The scratch buffer leaves `self` while `forward` runs (it needs `self`).
            let mut buf = std::mem::take(&mut self.stream_buf);
            while let Some(Ok(n)) = self.conns.get_mut(&id).map(|c| c.q.dgram_recv(&mut buf)) {
                datagrams += 1;
                let datagram = &buf[..n];
                if sink {
                    // Client role (load generator): counted and stamped in the addon.
                    self.sink.record(datagram);
                    continue;
                }
                match self.forward(id, datagram) {
                    Forwarded::Done => {}
                    Forwarded::No => {
                        to_js = true;
                        self.events
                            .push(Event::datagram(id, datagram.to_vec(), false));
                    }
                    Forwarded::AlsoJs => {
                        to_js = true;
                        self.events
                            .push(Event::datagram(id, datagram.to_vec(), true));
                    }
                }
            }
            self.stream_buf = buf;
        }
        // Delayed ACK: a packet of voice datagrams that the table handled entirely, and that
        // left nothing queued for this connection, only owes an ACK (DATAGRAM frames are
        // ack-eliciting); it waits (ACK_DELAY) for a datagram forwarded to this peer to ride
        // on, the usual case in a room with two speakers. Any other packet (an ACK, a PING,
        // stream data) is answered in this poll's flush as before.
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let only_ack = datagrams > 0
            && !to_js
            && self.events.len() == events_before
            && conn.q.dgram_send_queue_len() == 0
            && !conn.q.is_draining();
        // A client (sink) acknowledges at the latest every second such packet (RFC 9000
        // section 13.2.2), as browsers and the default engine's client do; the server waits
        // for voice to ride with instead.
        let second = sink && conn.ack_due.is_some();
        if let (true, false, Some(delay)) = (only_ack, second, self.ack_delay) {
            if conn.ack_due.is_none() {
                conn.ack_due = Some(conn.last_activity + delay);
                self.stats.acks_delayed += 1;
            }
        } else {
            self.mark_dirty(id);
        }
        self.reschedule(id);
    }

    /// Puts connection `id`'s deadline in the timer heap if it is earlier than its live entry.
    fn reschedule(&mut self, id: u32) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(at) = conn.deadline(self.keep_alive, self.pre_send) else {
            return;
        };
        if conn.scheduled.is_none_or(|s| at < s) {
            conn.scheduled = Some(at);
            self.timers.push(Reverse((at, id)));
        }
    }

    /// HOT PATH: a datagram of native peer `from`, forwarded by the core's table if it has an
    /// entry for its media: the sender's quarter stream id is swapped for each receiver's.
    fn forward(&mut self, from: u32, datagram: &[u8]) -> Forwarded {
        let Some(prefix_len) = self
            .conns
            .get(&from)
            .and_then(|c| c.session_prefix.as_ref())
            .and_then(|p| datagram.starts_with(p).then_some(p.len()))
        else {
            self.table.stats.miss_no_session += 1;
            return Forwarded::No;
        };
        let voice = &datagram[prefix_len..];
        let Some(header) = read_voice_header(voice) else {
            self.table.stats.miss_malformed += 1;
            return Forwarded::No;
        };
        if header.media_id_count != 1 {
            self.table.stats.miss_several_medias += 1;
            return Forwarded::No;
        }
        let now = self.now;
        let Some(route) = self.table.get_mut(from, header.media_ids[0]) else {
            self.table.stats.miss_no_route += 1;
            return Forwarded::No;
        };
        let allowed = route
            .bucket
            .as_mut()
            .is_none_or(|bucket| bucket.try_take(now));
        let to_js = route.to_js;
        // Borrowed out of the table for the loop and put back: no copy per packet.
        let receivers = std::mem::take(&mut route.receivers);
        let stats = &mut self.table.stats;
        stats.received += 1;
        // JavaScript counts what it sees (voiceRouter.ts); the rest is counted here for it.
        let alone = !to_js || !allowed;
        if alone {
            stats.alone.received += 1;
            stats.alone.received_bytes += voice.len() as u64;
        }
        if !allowed {
            stats.rate_limited += 1;
            self.restore_receivers(from, header.media_ids[0], receivers);
            return Forwarded::Done;
        }
        for &receiver in &receivers {
            let sent = match self.conns.get_mut(&receiver) {
                Some(conn) if conn.established && receiver != from => {
                    match conn.session_prefix.as_ref() {
                        Some(prefix) if prefix.len() + voice.len() <= self.forward_buf.len() => {
                            let out = &mut self.forward_buf[..prefix.len() + voice.len()];
                            out[..prefix.len()].copy_from_slice(prefix);
                            out[prefix.len()..].copy_from_slice(voice);
                            !conn.q.is_dgram_send_queue_full() && conn.q.dgram_send(out).is_ok()
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            let stats = &mut self.table.stats;
            if sent {
                stats.forwarded += 1;
                if alone {
                    stats.alone.forwarded += 1;
                    stats.alone.forwarded_bytes += voice.len() as u64;
                }
                self.mark_dirty(receiver);
            } else {
                stats.dropped += 1;
                if alone {
                    stats.alone.send_queue_full += 1;
                }
            }
        }
        self.restore_receivers(from, header.media_ids[0], receivers);
        if to_js {
            Forwarded::AlsoJs
        } else {
            Forwarded::Done
        }
    }

    fn restore_receivers(&mut self, sender: u32, media: u16, receivers: Vec<u32>) {
        if let Some(route) = self.table.get_mut(sender, media) {
            route.receivers = receivers;
        }
    }

    pub fn mark_dirty(&mut self, id: u32) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// A new server connection (statelessResponder.ts admitted the Initial in `packet`).
    pub fn accept(
        &mut self,
        scid: &[u8],
        odcid: Option<&[u8]>,
        client_dcid: Option<&[u8]>,
        reset_token: Option<u128>,
        peer: SocketAddr,
        packet: &[u8],
    ) -> Result<u32, String> {
        if scid.len() != CONNECTION_ID_LENGTH {
            return Err(format!(
                "scid must be {CONNECTION_ID_LENGTH} bytes, got {}",
                scid.len()
            ));
        }
        if packet.len() > self.packet_buf.len() {
            return Err(format!(
                "packet of {} bytes is larger than a UDP datagram",
                packet.len()
            ));
        }
        self.config.set_stateless_reset_token(reset_token);
        let scid_ref = quiche::ConnectionId::from_ref(scid);
        let odcid_ref = odcid.map(quiche::ConnectionId::from_ref);
        let q = quiche::accept(
            &scid_ref,
            odcid_ref.as_ref(),
            self.local,
            peer,
            &mut self.config,
        )
        .map_err(|e| format!("{e:?}"))?;
        let mut keys = vec![scid.to_vec()];
        if let Some(dcid) = client_dcid {
            keys.push(dcid.to_vec());
        }
        let id = self.insert(q, peer, keys);
        self.stats.connections_accepted += 1;
        self.now = Instant::now();
        let mut buf = std::mem::take(&mut self.packet_buf);
        buf[..packet.len()].copy_from_slice(packet);
        self.receive(id, &mut buf[..packet.len()], peer);
        self.packet_buf = buf;
        Ok(id)
    }

    /// Adds a connection (server: accepted; client: connect in client.rs), routed by `keys`.
    pub fn insert(&mut self, q: quiche::Connection, peer: SocketAddr, keys: Vec<Vec<u8>>) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        for key in &keys {
            self.routes.insert(key.clone(), id);
        }
        self.conns.insert(
            id,
            Box::new(Conn {
                q,
                peer,
                routing_keys: keys,
                established: false,
                last_activity: Instant::now(),
                session_prefix: None,
                dgram_blocked_since: None,
                ack_due: None,
                scheduled: None,
                dirty: false,
                voice_sink: false,
            }),
        );
        id
    }

    /// quiche's timers, keep-alive PINGs, pre_send_timeout and delayed ACKs of the connections
    /// due by `now` (taken from the timer heap).
    pub fn run_timers(&mut self, now: Instant) {
        let keep_alive = self.keep_alive;
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            if conn.scheduled != Some(at) {
                continue; // stale: the connection has an earlier live entry
            }
            conn.scheduled = None;
            self.stats.timers_fired += 1;
            let mut touched = false;
            if let Some(timeout) = conn.q.timeout_instant() {
                if timeout <= now {
                    conn.q.on_timeout();
                    touched = true;
                }
            }
            if let (Some(since), Some(limit)) = (conn.dgram_blocked_since, self.pre_send) {
                touched |= now.duration_since(since) >= limit;
            }
            touched |= conn.ack_due.is_some_and(|due| due <= now);
            if let Some(every) = keep_alive {
                if conn.established
                    && !conn.q.is_draining()
                    && now.duration_since(conn.last_activity) >= every
                {
                    let _ = conn.q.send_ack_eliciting();
                    conn.last_activity = now;
                    touched = true;
                }
            }
            if touched {
                // `send` (in the flush after this) reschedules.
                self.mark_dirty(id);
            } else {
                self.reschedule(id);
            }
        }
    }

    /// Time until the earliest connection deadline (None: no timer). May be early (a deadline
    /// that moved later), never late.
    pub fn next_timeout(&mut self, now: Instant) -> Option<Duration> {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            let live = self.conns.get(&id).is_some_and(|c| c.scheduled == Some(at));
            if live {
                return Some(at.saturating_duration_since(now));
            }
            self.timers.pop();
        }
        None
    }

    /// Sends everything the dirty connections have (each once), removes the closed ones.
    pub fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &id in &dirty {
            self.send(id);
        }
        self.dirty = dirty;
        self.dirty.clear();
        self.send_batch();
    }

    /// Hands the send batch to the kernel (sendmmsg, GSO trains per peer).
    pub fn send_batch(&mut self) {
        if !self.tx.is_empty() {
            self.tx.flush(self.socket.as_raw_fd());
        }
    }

    /// Everything connection `id` has to send, written by quiche into the send batch.
    fn send(&mut self, id: u32) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.ack_due = None;
        conn.dirty = false;
        let mut sent = false;
        loop {
            if self.tx.is_full() {
                self.tx.flush(self.socket.as_raw_fd());
            }
            match conn.q.send(self.tx.slot()) {
                Ok((len, info)) => {
                    if info.to != conn.peer {
                        // quiche moved to a validated new path (migration).
                        conn.peer = info.to;
                    }
                    self.tx.commit(len, info.to);
                    self.stats.packets_out += 1;
                    sent = true;
                }
                Err(_) => break,
            }
        }
        let now = Instant::now();
        if sent {
            conn.last_activity = now;
        }
        // pre_send_timeout (endpoint.ts #checkPreSend): voice stuck behind congestion control
        // that long is stale; drop the whole queue and count it.
        if let Some(limit) = self.pre_send {
            if conn.q.dgram_send_queue_len() == 0 {
                conn.dgram_blocked_since = None;
            } else {
                match conn.dgram_blocked_since {
                    None => conn.dgram_blocked_since = Some(now),
                    Some(since) if now.duration_since(since) >= limit => {
                        self.stats.datagrams_expired += conn.q.dgram_send_queue_len() as u64;
                        conn.q.dgram_purge_outgoing(|_| true);
                        conn.dgram_blocked_since = None;
                    }
                    Some(_) => {}
                }
            }
        }
        if conn.q.is_closed() {
            self.remove(id);
        } else {
            self.reschedule(id);
        }
    }

    fn remove(&mut self, id: u32) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        self.table.forget(id);
        for key in &conn.routing_keys {
            if self.routes.get(key) == Some(&id) {
                self.routes.remove(key);
            }
        }
        self.stats.connections_closed += 1;
        let snapshot = |e: Option<&quiche::ConnectionError>| {
            e.map(|e| CloseError {
                is_app: e.is_app,
                error_code: e.error_code as f64,
                reason: e.reason.clone(),
            })
        };
        self.events.push(Event::closed(
            id,
            snapshot(conn.q.peer_error()),
            snapshot(conn.q.local_error()),
            conn.q.is_timed_out(),
        ));
    }

    /// Closes every connection (CONNECTION_CLOSE sent now) and forgets them.
    pub fn close_all(&mut self, code: u64, reason: &[u8]) {
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in &ids {
            if let Some(conn) = self.conns.get_mut(id) {
                let _ = conn.q.close(true, code, reason);
            }
            self.send(*id);
        }
        self.send_batch();
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// Forgets every connection without a word to the peers (what a crash does; tests).
    pub fn forget_all(&mut self) {
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            self.remove(id);
        }
    }

    pub fn conn(&mut self, id: u32) -> Result<&mut Conn, String> {
        self.conns
            .get_mut(&id)
            .map(|c| &mut **c)
            .ok_or_else(|| format!("no connection {id}"))
    }
}

/// The DCID of a short-header (1-RTT) packet: the bytes after the first, of our fixed length.
fn short_header_dcid(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first & 0x80 != 0 {
        return None;
    }
    packet.get(1..1 + CONNECTION_ID_LENGTH)
}
