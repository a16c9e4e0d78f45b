//! odin-quic: the `[quic]` data plane of ODIN Grid as a Node addon (napi-rs). It owns the UDP
//! socket and the quiche connections; JavaScript keeps HTTP/3, WebTransport and ODIN
//! (docs/native-quic.md). Every exported call runs inside `guard::guard`: a panic becomes a
//! JavaScript Error, bad arguments are `InvalidArg` errors, nothing aborts the process.

#[macro_use]
extern crate napi_derive;

#[cfg(test)]
mod bench;
mod config;
mod endpoint;
mod events;
mod forward;
mod guard;
mod io;
mod record_aead;
#[cfg(test)]
mod reset_stream_at;
mod stateless;
#[cfg(test)]
mod test_cert;
mod voice;
mod waker;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Instant;

use napi::bindgen_prelude::Uint8Array;
use napi::{Error, Result, Status};

use config::EndpointOptions;
use endpoint::Endpoint;
use events::JsEvent;
use guard::{guard, invalid};
use waker::{WakeFn, Waker};

/// The addon's version (package.json of native/quic is not used; Cargo's is).
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Panics inside the boundary: what a bug in the addon does (tests of the guard).
#[napi]
pub fn panic_for_test(message: String) -> Result<()> {
    guard(|| panic!("{message}"))
}

/// The process's malloc counters (glibc `mallinfo2`), bytes: what the addon, BoringSSL and
/// Node's own C++ allocations hold, which `process.memoryUsage()` does not break down
/// (bench/transports/nativePeerMemory.ts). Zero on a libc without `mallinfo2`.
#[napi(object)]
pub struct MallocInfo {
    /// Bytes in the main and thread arenas (obtained with brk/mmap, in use or free).
    pub arena: f64,
    /// Bytes in chunks mapped one by one (large allocations).
    pub mmapped: f64,
    /// Bytes in use: allocated chunks of the arenas plus the mapped ones.
    pub in_use: f64,
    /// Bytes free inside the arenas (fragmentation, or kept for reuse).
    pub free: f64,
    /// Free bytes at the top of the main arena, which `malloc_trim` could return.
    pub releasable: f64,
}

#[napi]
pub fn malloc_info() -> MallocInfo {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters (glibc 2.33+).
        let m = unsafe { libc::mallinfo2() };
        MallocInfo {
            arena: m.arena as f64,
            mmapped: m.hblkhd as f64,
            in_use: (m.uordblks + m.hblkhd) as f64,
            free: m.fordblks as f64,
            releasable: m.keepcost as f64,
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        MallocInfo { arena: 0.0, mmapped: 0.0, in_use: 0.0, free: 0.0, releasable: 0.0 }
    }
}

/// A voice packet's header as the addon parses it (voice.rs; the differential test).
#[napi(object)]
pub struct JsVoiceHeader {
    pub media_ids: Vec<u32>,
    pub media_ids_start: u32,
    pub media_ids_end: u32,
    pub seq: u32,
    pub ts: u32,
    pub flags: u32,
    pub opus_start: u32,
    pub opus_length: u32,
}

/// voice.rs read_voice_header on `packet`: null when it is malformed.
#[napi]
pub fn read_voice_header(packet: Uint8Array) -> Result<Option<JsVoiceHeader>> {
    guard(|| {
        Ok(voice::read_voice_header(&packet).map(|h| JsVoiceHeader {
            media_ids: h.media_ids[..h.media_id_count]
                .iter()
                .map(|&id| u32::from(id))
                .collect(),
            media_ids_start: h.media_ids_start as u32,
            media_ids_end: h.media_ids_end as u32,
            seq: h.seq,
            ts: h.ts,
            flags: h.flags,
            opus_start: h.opus_start as u32,
            opus_length: h.opus_length as u32,
        }))
    })
}

fn socket_addr(host: &str, port: u32) -> Result<SocketAddr> {
    let ip: IpAddr = host
        .parse()
        .map_err(|_| invalid(format!("host {host:?} is not an IP address")))?;
    let port = u16::try_from(port).map_err(|_| invalid(format!("port {port} is out of range")))?;
    Ok(SocketAddr::new(ip, port))
}

fn stream_id(value: f64) -> Result<u64> {
    // RFC 9000 section 2.1: stream ids are 62-bit integers.
    if !(value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && value < 4_611_686_018_427_387_904.0)
    {
        return Err(invalid(format!(
            "stream id {value} is not an integer in 0..2^62"
        )));
    }
    Ok(value as u64)
}

fn error_code(value: f64) -> Result<u64> {
    if !(value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && value < 4_611_686_018_427_387_904.0)
    {
        return Err(invalid(format!(
            "error code {value} is not an integer in 0..2^62"
        )));
    }
    Ok(value as u64)
}

fn quiche_error(e: quiche::Error) -> Error {
    // quiche's error name as the message (server/transports/quic/quiche.ts quicheErrorOf), e.g.
    // `StreamStopped(7)`.
    Error::new(Status::GenericFailure, format!("{e:?}"))
}

/// The endpoint's UDP socket (either role): bound to `address`, non-blocking, with receive
/// and send buffers of `buffer_bytes` (4 MB when absent).
fn bind_udp(address: SocketAddr, buffer_bytes: Option<u32>) -> Result<UdpSocket> {
    let socket = UdpSocket::bind(address)
        .map_err(|e| Error::new(Status::GenericFailure, format!("bind {address}: {e}")))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
    let bytes = buffer_bytes.unwrap_or(4 * 1024 * 1024);
    set_buffer(socket.as_raw_fd(), libc::SO_RCVBUF, bytes);
    set_buffer(socket.as_raw_fd(), libc::SO_SNDBUF, bytes);
    Ok(socket)
}

fn set_buffer(fd: i32, option: i32, bytes: u32) {
    let value = bytes as libc::c_int;
    // SAFETY: fd is our socket; value lives for the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
}

#[napi(object)]
pub struct NativeStats {
    pub packets_in: f64,
    pub packets_out: f64,
    pub not_quic: f64,
    pub migration_refused: f64,
    pub connections_accepted: f64,
    pub connections_closed: f64,
    pub datagrams_expired: f64,
    /// Flushes put off because a connection only owed an ACK (endpoint.rs ACK_DELAY).
    pub acks_delayed: f64,
    /// sendmmsg calls, and datagrams the kernel refused or had no room for (io.rs).
    pub send_calls: f64,
    pub send_dropped: f64,
    /// Whether sends use UDP GSO (off after the kernel refused it once).
    pub gso: bool,
    pub connections: u32,
    /// Voice datagrams of native senders handled by the forwarding table.
    pub voice_received: f64,
    pub voice_forwarded: f64,
    pub voice_rate_limited: f64,
    pub voice_dropped: f64,
    /// Table misses by why (forward.rs ForwardStats); those datagrams take the JavaScript path.
    pub voice_miss_no_session: f64,
    pub voice_miss_malformed: f64,
    pub voice_miss_several_medias: f64,
    pub voice_miss_no_route: f64,
    /// What JavaScript never saw, in the core's `voiceStats` terms (metrics add it there).
    pub voice_alone_received: f64,
    pub voice_alone_received_bytes: f64,
    pub voice_alone_forwarded: f64,
    pub voice_alone_forwarded_bytes: f64,
    pub voice_alone_send_queue_full: f64,
    pub routes: u32,
}

/// One UDP socket and its QUIC connections (server role).
#[napi]
pub struct NativeEndpoint {
    inner: Option<Endpoint>,
    waker: Option<Waker>,
    poisoned: bool,
}

impl NativeEndpoint {
    fn run<T>(&mut self, f: impl FnOnce(&mut Endpoint) -> Result<T>) -> Result<T> {
        if self.poisoned {
            return Err(Error::new(
                Status::GenericFailure,
                "NativeQuicPanic: the endpoint panicked earlier",
            ));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Err(Error::new(Status::GenericFailure, "the endpoint is closed"));
        };
        let result = guard(|| f(inner));
        if let Err(e) = &result {
            if e.reason.starts_with("NativeQuicPanic") {
                self.poisoned = true;
            }
        }
        result
    }

    fn drain_events(endpoint: &mut Endpoint) -> Vec<JsEvent> {
        std::mem::take(&mut endpoint.events)
            .into_iter()
            .map(JsEvent::from)
            .collect()
    }
}

#[napi]
impl NativeEndpoint {
    /// Binds the UDP socket and builds the TLS/QUIC config.
    #[napi(constructor)]
    pub fn new(options: EndpointOptions) -> Result<Self> {
        guard(|| {
            let address = socket_addr(&options.host, options.port)?;
            let config = config::build(&options).map_err(invalid)?;
            let socket = bind_udp(address, options.socket_buffer_bytes)?;
            let endpoint = Endpoint::new(
                socket,
                config,
                options.migration,
                options.keep_alive_ms,
                options.pre_send_timeout_ms.unwrap_or(0),
            )
            .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
            Ok(NativeEndpoint {
                inner: Some(endpoint),
                waker: None,
                poisoned: false,
            })
        })
    }

    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.inner.as_ref().map_or(0, |e| u32::from(e.local.port()))
    }

    #[napi(getter)]
    pub fn host(&self) -> String {
        self.inner
            .as_ref()
            .map_or(String::new(), |e| e.local.ip().to_string())
    }

    /// Starts the thread that calls `wake` when the socket is readable (then call `poll`).
    #[napi]
    pub fn start(&mut self, wake: WakeFn) -> Result<()> {
        if self.waker.is_some() {
            return Err(invalid("start() was called twice"));
        }
        let fd = self.run(|e| Ok(e.socket.as_raw_fd()))?;
        let waker = Waker::start(fd, wake)
            .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
        self.waker = Some(waker);
        Ok(())
    }

    /// Reads every waiting packet, runs due timers, sends; the events that produced.
    #[napi]
    pub fn poll(&mut self) -> Result<Vec<JsEvent>> {
        let events = self.run(|e| {
            e.poll();
            Ok(Self::drain_events(e))
        })?;
        if let Some(waker) = &self.waker {
            waker.rearm();
        }
        Ok(events)
    }

    /// Sends what the given connections have queued; the events that produced (closes).
    #[napi]
    pub fn flush(&mut self, conns: Vec<u32>) -> Result<Vec<JsEvent>> {
        self.run(|e| {
            for id in conns {
                e.mark_dirty(id);
            }
            e.flush();
            Ok(Self::drain_events(e))
        })
    }

    /// Milliseconds until the next connection timer, or null when none is set.
    #[napi]
    pub fn next_timeout_ms(&mut self) -> Result<Option<f64>> {
        self.run(|e| {
            Ok(e.next_timeout(Instant::now())
                .map(|d| d.as_secs_f64() * 1000.0))
        })
    }

    /// A new connection for an Initial that statelessResponder.ts admitted; feeds it `packet`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &mut self,
        scid: Uint8Array,
        odcid: Option<Uint8Array>,
        client_dcid: Option<Uint8Array>,
        reset_token: Option<Uint8Array>,
        host: String,
        port: u32,
        packet: Uint8Array,
    ) -> Result<u32> {
        let peer = socket_addr(&host, port)?;
        let token = match &reset_token {
            None => None,
            Some(bytes) => Some(u128::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| invalid("resetToken must be 16 bytes"))?,
            )),
        };
        if odcid.as_ref().is_some_and(|d| d.len() > 20)
            || client_dcid.as_ref().is_some_and(|d| d.len() > 20)
        {
            return Err(invalid(
                "a connection id is at most 20 bytes (RFC 9000 section 17.2)",
            ));
        }
        self.run(|e| {
            e.accept(
                &scid,
                odcid.as_deref(),
                client_dcid.as_deref(),
                token,
                peer,
                &packet,
            )
            .map_err(|m| Error::new(Status::GenericFailure, m))
        })
    }

    /// Feeds an `unknown` packet to the connection its DCID names now, if one was accepted
    /// since it was read; false when there is none (then it is still unknown).
    #[napi]
    pub fn redeliver(&mut self, packet: Uint8Array, host: String, port: u32) -> Result<bool> {
        let from = socket_addr(&host, port)?;
        self.run(|e| Ok(e.redeliver(&packet, from)))
    }

    /// The events queued by calls other than poll/flush (accept).
    #[napi]
    pub fn take_events(&mut self) -> Result<Vec<JsEvent>> {
        self.run(|e| Ok(Self::drain_events(e)))
    }

    /// Sends one datagram from the endpoint's socket (stateless answers).
    #[napi]
    pub fn send_to(&mut self, bytes: Uint8Array, host: String, port: u32) -> Result<()> {
        let to = socket_addr(&host, port)?;
        self.run(|e| {
            let _ = e.socket.send_to(&bytes, to);
            Ok(())
        })
    }

    /// Bytes quiche took (flow control may take fewer); errors are quiche's names.
    #[napi]
    pub fn stream_send(
        &mut self,
        conn: u32,
        stream: f64,
        bytes: Uint8Array,
        fin: bool,
    ) -> Result<f64> {
        let stream = stream_id(stream)?;
        self.run(|e| {
            let c = e.conn(conn).map_err(invalid)?;
            match c.q.stream_send(stream, &bytes, fin) {
                Ok(n) => Ok(n as f64),
                Err(quiche::Error::Done) => Ok(0.0),
                Err(err) => Err(quiche_error(err)),
            }
        })
    }

    /// RESET_STREAM (direction 1, write) or STOP_SENDING (0, read).
    #[napi]
    pub fn stream_shutdown(
        &mut self,
        conn: u32,
        stream: f64,
        direction: u32,
        code: f64,
    ) -> Result<()> {
        let stream = stream_id(stream)?;
        let code = error_code(code)?;
        let how = match direction {
            0 => quiche::Shutdown::Read,
            1 => quiche::Shutdown::Write,
            _ => {
                return Err(invalid(format!(
                    "direction {direction} is neither 0 (read) nor 1 (write)"
                )))
            }
        };
        self.run(|e| {
            let c = e.conn(conn).map_err(invalid)?;
            c.q.stream_shutdown(stream, how, code).map_err(quiche_error)
        })
    }

    #[napi]
    pub fn dgram_send(&mut self, conn: u32, bytes: Uint8Array) -> Result<()> {
        self.run(|e| {
            let c = e.conn(conn).map_err(invalid)?;
            c.q.dgram_send(&bytes).map_err(quiche_error)
        })
    }

    #[napi]
    pub fn is_dgram_send_queue_full(&mut self, conn: u32) -> Result<bool> {
        self.run(|e| Ok(e.conn(conn).map_err(invalid)?.q.is_dgram_send_queue_full()))
    }

    #[napi]
    pub fn dgram_max_writable_len(&mut self, conn: u32) -> Result<Option<u32>> {
        self.run(|e| {
            Ok(e.conn(conn)
                .map_err(invalid)?
                .q
                .dgram_max_writable_len()
                .map(|n| n as u32))
        })
    }

    /// CONNECTION_CLOSE (application variant when `is_app`); the Closed event follows.
    #[napi]
    pub fn close(&mut self, conn: u32, is_app: bool, code: f64, reason: Uint8Array) -> Result<()> {
        let code = error_code(code)?;
        self.run(|e| {
            let c = e.conn(conn).map_err(invalid)?;
            let _ = c.q.close(is_app, code, &reason);
            e.mark_dirty(conn);
            Ok(())
        })
    }

    /// The quarter stream id prefix of connection `conn`'s voice datagrams (its WebTransport
    /// session has an ODIN client): from now on it can send and receive by the table.
    #[napi]
    pub fn set_session(&mut self, conn: u32, prefix: Uint8Array) -> Result<()> {
        // RFC 9000 section 16: a varint is 1, 2, 4 or 8 bytes.
        if ![1, 2, 4, 8].contains(&prefix.len()) {
            return Err(invalid(format!(
                "a session prefix is a varint of 1, 2, 4 or 8 bytes, got {}",
                prefix.len()
            )));
        }
        self.run(|e| {
            e.conn(conn).map_err(invalid)?.session_prefix = Some(prefix.to_vec());
            Ok(())
        })
    }

    /// The core's forward list of media `media` of native sender `conn`: the native receiver
    /// connections, whether other receivers exist (JavaScript sends to those), and the
    /// `incoming_media_packets` bucket (`rate` per second, `capacity`), if any.
    #[napi]
    pub fn set_route(
        &mut self,
        conn: u32,
        media: u32,
        receivers: Vec<u32>,
        to_js: bool,
        rate: Option<f64>,
        capacity: Option<f64>,
    ) -> Result<()> {
        let media = u16::try_from(media)
            .map_err(|_| invalid(format!("media id {media} is not a uint16")))?;
        let bucket = match (rate, capacity) {
            (Some(r), Some(c)) if r.is_finite() && r > 0.0 && c.is_finite() && c >= 1.0 => {
                Some((r, c))
            }
            (None, None) => None,
            _ => return Err(invalid(
                "rate and capacity must both be positive numbers (capacity >= 1) or both absent",
            )),
        };
        if receivers.len() > 65536 {
            return Err(invalid("more receivers than a room can hold"));
        }
        self.run(|e| {
            e.conn(conn).map_err(invalid)?;
            e.table
                .set(conn, media, receivers, to_js, bucket, Instant::now());
            Ok(())
        })
    }

    #[napi]
    pub fn remove_route(&mut self, conn: u32, media: u32) -> Result<()> {
        let media = u16::try_from(media)
            .map_err(|_| invalid(format!("media id {media} is not a uint16")))?;
        self.run(|e| {
            e.table.remove(conn, media);
            Ok(())
        })
    }

    /// A renewed certificate for connections accepted from now on.
    #[napi]
    pub fn set_certificate(&mut self, options: EndpointOptions) -> Result<()> {
        let config = guard(|| config::build(&options).map_err(invalid))?;
        self.run(|e| {
            e.config = config;
            Ok(())
        })
    }

    #[napi]
    pub fn stats(&mut self) -> Result<NativeStats> {
        self.run(|e| {
            let s = e.stats;
            Ok(NativeStats {
                packets_in: s.packets_in as f64,
                packets_out: s.packets_out as f64,
                not_quic: s.not_quic as f64,
                migration_refused: s.migration_refused as f64,
                connections_accepted: s.connections_accepted as f64,
                connections_closed: s.connections_closed as f64,
                datagrams_expired: s.datagrams_expired as f64,
                acks_delayed: s.acks_delayed as f64,
                send_calls: e.tx.stats.calls as f64,
                send_dropped: e.tx.stats.dropped as f64,
                gso: e.tx.gso(),
                connections: e.conns.len() as u32,
                voice_received: e.table.stats.received as f64,
                voice_forwarded: e.table.stats.forwarded as f64,
                voice_rate_limited: e.table.stats.rate_limited as f64,
                voice_dropped: e.table.stats.dropped as f64,
                voice_miss_no_session: e.table.stats.miss_no_session as f64,
                voice_miss_malformed: e.table.stats.miss_malformed as f64,
                voice_miss_several_medias: e.table.stats.miss_several_medias as f64,
                voice_miss_no_route: e.table.stats.miss_no_route as f64,
                voice_alone_received: e.table.stats.alone.received as f64,
                voice_alone_received_bytes: e.table.stats.alone.received_bytes as f64,
                voice_alone_forwarded: e.table.stats.alone.forwarded as f64,
                voice_alone_forwarded_bytes: e.table.stats.alone.forwarded_bytes as f64,
                voice_alone_send_queue_full: e.table.stats.alone.send_queue_full as f64,
                routes: e.table.len() as u32,
            })
        })
    }

    /// Closes every connection (application CONNECTION_CLOSE `code`, `reason`), stops the waker
    /// thread and closes the socket; the Closed events of the connections.
    #[napi]
    pub fn shutdown(
        &mut self,
        code: f64,
        reason: Uint8Array,
        graceful: bool,
    ) -> Result<Vec<JsEvent>> {
        let code = error_code(code)?;
        let events = if self.inner.is_some() && !self.poisoned {
            self.run(|e| {
                if graceful {
                    e.close_all(code, &reason);
                } else {
                    e.forget_all();
                }
                Ok(Self::drain_events(e))
            })
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        if let Some(mut waker) = self.waker.take() {
            waker.stop();
        }
        self.inner = None;
        Ok(events)
    }
}

// After `NativeEndpoint`: napi-derive must have seen the struct before an `impl` of it.
mod client;
