//! The endpoint's state: one UDP socket, the quiche connections routed by destination
//! connection id (RFC 9000 section 5.2), their timers, and the queue of events for JavaScript.
//! Everything here runs on the JavaScript thread (called from `lib.rs`), so no locks.
//!
//! What stays in JavaScript (server/transports/quic/nativeEndpoint.ts): the answers given
//! without state (Retry, Version Negotiation, stateless reset: statelessResponder.ts gets the
//! rare packet for no known connection as an `unknown` event and calls `accept`), HTTP/3,
//! WebTransport and ODIN.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::events::{CloseError, Event, EventKind};
use crate::forward::Table;
use crate::voice::read_voice_header;

/// Our connection ids are always this long (quiche.ts CONNECTION_ID_LENGTH).
pub const CONNECTION_ID_LENGTH: usize = 16;
/// Largest UDP payload we send or accept (quiche.ts MAX_UDP_PAYLOAD).
pub const MAX_UDP_PAYLOAD: usize = 1350;
/// Packets read per `poll()` at most, so one busy socket cannot hold the event loop.
const MAX_PACKETS_PER_POLL: usize = 4096;

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
    /// Client role, load generator: received datagrams go to `Endpoint::sink` (client.rs),
    /// not to JavaScript one event each.
    pub voice_sink: bool,
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
    pub conns: HashMap<u32, Conn>,
    routes: HashMap<Vec<u8>, u32>,
    next_id: u32,
    pub events: Vec<Event>,
    dirty: Vec<u32>,
    pub migration: bool,
    pub keep_alive: Option<Duration>,
    /// pre_send_timeout: datagrams waiting in quiche's queue longer than this are dropped.
    pub pre_send: Option<Duration>,
    pub stats: Stats,
    pub table: Table,
    /// Stamps of the datagrams of `voice_sink` connections (client.rs, load generator).
    pub sink: crate::client::VoiceSink,
    forward_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
    stream_buf: Vec<u8>,
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
        Ok(Endpoint {
            socket,
            local,
            config,
            conns: HashMap::new(),
            routes: HashMap::new(),
            next_id: 1,
            events: Vec::new(),
            dirty: Vec::new(),
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
            table: Table::default(),
            sink: crate::client::VoiceSink::default(),
            forward_buf: vec![0; 65536],
            recv_buf: vec![0; 65536],
            send_buf: vec![0; MAX_UDP_PAYLOAD],
            stream_buf: vec![0; 65536],
        })
    }

    /// Reads the socket until it would block (or the per-poll cap), then runs due timers and
    /// sends what every touched connection has to send.
    pub fn poll(&mut self) -> bool {
        let mut drained = false;
        for _ in 0..MAX_PACKETS_PER_POLL {
            match self.socket.recv_from(&mut self.recv_buf) {
                Ok((len, from)) => self.on_packet(len, from),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable of a peer) surface here on Linux: not fatal.
                Err(_) => continue,
            }
        }
        self.run_timers(Instant::now());
        self.flush();
        drained
    }

    fn on_packet(&mut self, len: usize, from: SocketAddr) {
        self.stats.packets_in += 1;
        let dcid = {
            let packet = &mut self.recv_buf[..len];
            match quiche::Header::from_slice(packet, CONNECTION_ID_LENGTH) {
                Ok(header) => header.dcid.to_vec(),
                Err(_) => {
                    self.stats.not_quic += 1;
                    return;
                }
            }
        };
        let Some(&id) = self.routes.get(&dcid) else {
            // No connection: statelessResponder.ts decides (Retry, reset, new connection).
            self.events
                .push(Event::unknown(self.recv_buf[..len].to_vec(), from));
            return;
        };
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if !self.migration && from != conn.peer {
            self.stats.migration_refused += 1;
            return;
        }
        self.receive(id, len, from);
    }

    /// A packet JavaScript got as `unknown` whose connection was accepted since (the second
    /// Initial datagram of a ClientHello too big for one, read in the same batch as the
    /// first): fed to that connection. False when its DCID still names no connection.
    pub fn redeliver(&mut self, packet: &[u8], from: SocketAddr) -> bool {
        if packet.len() > self.recv_buf.len() {
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
        self.recv_buf[..packet.len()].copy_from_slice(packet);
        self.receive(id, packet.len(), from);
        true
    }

    /// Feeds `recv_buf[..len]` to connection `id` and queues what it produced.
    fn receive(&mut self, id: u32, len: usize, from: SocketAddr) {
        let local = self.local;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let info = quiche::RecvInfo { from, to: local };
        // An error means quiche dropped the packet or closed the connection (sent in the flush).
        let _ = conn.q.recv(&mut self.recv_buf[..len], info);
        conn.last_activity = Instant::now();
        if !conn.established && conn.q.is_established() {
            conn.established = true;
            self.events.push(Event::of(EventKind::Established, id));
        }
        let mut datagrams = Vec::new();
        // Sink connections (client.rs) delay the ACK of a packet that only brought voice.
        let mut ack_delayable = conn.voice_sink && conn.established;
        let mut sunk = 0;
        if conn.established && !conn.q.is_closed() {
            while let Ok(n) = conn.q.dgram_recv(&mut self.stream_buf) {
                if conn.voice_sink {
                    self.sink.record(&self.stream_buf[..n]);
                    sunk += 1;
                } else {
                    datagrams.push(self.stream_buf[..n].to_vec());
                }
            }
            let readable: Vec<u64> = conn.q.readable().collect();
            ack_delayable &= readable.is_empty();
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
        for datagram in datagrams {
            match self.forward(id, &datagram) {
                Forwarded::Done => {}
                Forwarded::No => self.events.push(Event::datagram(id, datagram, false)),
                Forwarded::AlsoJs => self.events.push(Event::datagram(id, datagram, true)),
            }
        }
        if !(ack_delayable && sunk > 0 && self.sink.delay_ack(id, Instant::now())) {
            self.mark_dirty(id);
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
        let now = Instant::now();
        let Some(route) = self.table.get_mut(from, header.media_ids[0]) else {
            self.table.stats.miss_no_route += 1;
            return Forwarded::No;
        };
        let allowed = route
            .bucket
            .as_mut()
            .is_none_or(|bucket| bucket.try_take(now));
        let to_js = route.to_js;
        let receivers = route.receivers.clone();
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
            return Forwarded::Done;
        }
        for receiver in receivers {
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
        if to_js {
            Forwarded::AlsoJs
        } else {
            Forwarded::Done
        }
    }

    pub fn mark_dirty(&mut self, id: u32) {
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
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
        if packet.len() > self.recv_buf.len() {
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
        self.recv_buf[..packet.len()].copy_from_slice(packet);
        self.receive(id, packet.len(), peer);
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
            Conn {
                q,
                peer,
                routing_keys: keys,
                established: false,
                last_activity: Instant::now(),
                session_prefix: None,
                dgram_blocked_since: None,
                voice_sink: false,
            },
        );
        id
    }

    /// quiche's timers and keep-alive PINGs of every connection due by `now`.
    pub fn run_timers(&mut self, now: Instant) {
        let keep_alive = self.keep_alive;
        let mut touched = Vec::new();
        for (&id, conn) in self.conns.iter_mut() {
            if let Some(timeout) = conn.q.timeout_instant() {
                if timeout <= now {
                    conn.q.on_timeout();
                    touched.push(id);
                }
            }
            if let (Some(since), Some(limit)) = (conn.dgram_blocked_since, self.pre_send) {
                if now.duration_since(since) >= limit {
                    touched.push(id);
                }
            }
            if let Some(every) = keep_alive {
                if conn.established
                    && !conn.q.is_draining()
                    && now.duration_since(conn.last_activity) >= every
                {
                    let _ = conn.q.send_ack_eliciting();
                    conn.last_activity = now;
                    touched.push(id);
                }
            }
        }
        touched.extend(self.sink.due_acks(now));
        for id in touched {
            self.mark_dirty(id);
        }
    }

    /// Milliseconds until the next timer of any connection (None: no timer).
    pub fn next_timeout(&self, now: Instant) -> Option<Duration> {
        let mut next: Option<Instant> = None;
        for conn in self.conns.values() {
            let mut at = conn.q.timeout_instant();
            if let Some(every) = self.keep_alive {
                if conn.established {
                    let keep = conn.last_activity + every;
                    at = Some(at.map_or(keep, |t| t.min(keep)));
                }
            }
            if let (Some(since), Some(limit)) = (conn.dgram_blocked_since, self.pre_send) {
                let expire = since + limit;
                at = Some(at.map_or(expire, |t| t.min(expire)));
            }
            if let Some(at) = at {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
            }
        }
        if let Some(at) = self.sink.next_ack() {
            next = Some(next.map_or(at, |n: Instant| n.min(at)));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    /// Sends everything the dirty connections have, removes the closed ones.
    pub fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for id in dirty {
            self.send(id);
        }
    }

    fn send(&mut self, id: u32) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut sent = false;
        loop {
            match conn.q.send(&mut self.send_buf) {
                Ok((len, info)) => {
                    if info.to != conn.peer {
                        // quiche moved to a validated new path (migration).
                        conn.peer = info.to;
                    }
                    let _ = self.socket.send_to(&self.send_buf[..len], info.to);
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
            .ok_or_else(|| format!("no connection {id}"))
    }
}
