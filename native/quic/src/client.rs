//! The client role of the addon: the same `NativeEndpoint` (one UDP socket, connections routed
//! by our connection id, the same poll/flush/timers and events), with connections it opens
//! itself instead of accepting them. Used by grid's Node client (client/quic/) and the load
//! generator (bench/), so a load test does not spend as much per packet as the server it
//! measures (docs/native-quic.md).
//!
//! For the load generator a connection can be a voice *sink*: its datagrams are not handed to
//! JavaScript one event each; the addon reads the stamp the bench wrote into each packet
//! (bench/voicePayload.ts) and keeps (sent, received) pairs that JavaScript takes in batches.

use boring::ssl::{SslContextBuilder, SslMethod};
use boring::x509::X509;
use napi::bindgen_prelude::{Float64Array, Uint8Array};
use napi::{Error, Result, Status};

use crate::config::{transport_config, ReceiveWindows};
use crate::endpoint::{Endpoint, CONNECTION_ID_LENGTH, MAX_UDP_PAYLOAD};
use crate::guard::{guard, invalid};
use crate::voice::read_voice_header;
use crate::{bind_udp, socket_addr, NativeEndpoint};

/// Pairs kept at most between two `takeVoiceStamps` (16 MB); more are counted, not kept.
const MAX_SINK_STAMPS: usize = 1 << 20;
/// Bytes of the stamp at the start of the opus payload (bench/voicePayload.ts STAMP_BYTES).
const STAMP_BYTES: usize = 16;

#[napi(object)]
pub struct ClientEndpointOptions {
    /// Local address to bind (an IP address); port 0 for any.
    pub host: String,
    pub port: u32,
    pub alpn: Vec<String>,
    /// `max_idle_timeout`, ms (0: none).
    pub idle_timeout_ms: u32,
    /// PING after that long without traffic, ms (0: never).
    pub keep_alive_ms: u32,
    /// Verify the server's certificate chain and name (false only when the caller asked for
    /// `insecure`).
    pub verify_peer: bool,
    /// PEM certificates to trust; without them, the system's roots.
    pub ca_pem: Option<String>,
    pub datagram_recv_queue: u32,
    pub datagram_send_queue: u32,
    pub windows: ReceiveWindows,
    pub socket_buffer_bytes: Option<u32>,
}

fn client_config(options: &ClientEndpointOptions) -> std::result::Result<quiche::Config, String> {
    let mut tls =
        SslContextBuilder::new(SslMethod::tls()).map_err(|e| format!("TLS context: {e}"))?;
    match &options.ca_pem {
        Some(pem) => {
            let certs =
                X509::stack_from_pem(pem.as_bytes()).map_err(|e| format!("caPem: {e}"))?;
            if certs.is_empty() {
                return Err("caPem holds no certificate".into());
            }
            for cert in certs {
                tls.cert_store_mut()
                    .add_cert(cert)
                    .map_err(|e| format!("caPem: {e}"))?;
            }
        }
        None => tls
            .set_default_verify_paths()
            .map_err(|e| format!("system trust store: {e}"))?,
    }
    let mut config = transport_config(
        tls,
        &options.alpn,
        options.idle_timeout_ms,
        &options.windows,
        options.datagram_recv_queue,
        options.datagram_send_queue,
    )?;
    // quiche checks the chain against the store and, with the server name given to connect(),
    // the name (X509_VERIFY_PARAM_set1_host).
    config.verify_peer(options.verify_peer);
    Ok(config)
}

/// CLOCK_MONOTONIC in µs: the clock of bench/clock.ts (process.hrtime), shared by processes.
fn monotonic_micros() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts lives for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 * 1e6 + (ts.tv_nsec / 1000) as f64
}

/// The load generator's receive side (see the module comment).
///
/// Delayed ACKs: quiche has no ACK timer and puts an ACK into the next packet it builds, so
/// flushing after every voice packet answered each with an ACK-only packet. A packet that
/// brought only voice to a sink connection is acknowledged after a second one (RFC 9000
/// section 13.2.2) or the endpoint's ACK_DELAY later (`Endpoint::receive`, `Conn::ack_due`).
#[derive(Default)]
pub struct VoiceSink {
    /// (sent µs, received µs) pairs, flat.
    stamps: Vec<f64>,
    /// Datagrams received by sink connections.
    pub received: u64,
    /// Datagrams without a readable stamp (not voice, or a payload shorter than the stamp).
    pub unstamped: u64,
    /// Stamps not kept because nobody took them (MAX_SINK_STAMPS).
    pub overflow: u64,
}

impl VoiceSink {
    /// HOT PATH (load generator): one received datagram, a quarter stream id then a voice packet.
    pub fn record(&mut self, datagram: &[u8]) {
        self.received += 1;
        let Some(&first) = datagram.first() else {
            self.unstamped += 1;
            return;
        };
        // RFC 9000 section 16: the two high bits give the varint's length.
        let prefix = 1usize << (first >> 6);
        let voice = datagram.get(prefix..).unwrap_or(&[]);
        let Some(header) = read_voice_header(voice) else {
            self.unstamped += 1;
            return;
        };
        if header.opus_length < STAMP_BYTES {
            self.unstamped += 1;
            return;
        }
        if self.stamps.len() >= 2 * MAX_SINK_STAMPS {
            self.overflow += 1;
            return;
        }
        let at = header.opus_start;
        let word = |i: usize| u32::from_be_bytes(voice[i..i + 4].try_into().unwrap_or([0; 4]));
        let sent = f64::from(word(at)) * 4_294_967_296.0 + f64::from(word(at + 4));
        self.stamps.push(sent);
        self.stamps.push(monotonic_micros());
    }
}

#[napi(object)]
pub struct VoiceSinkStats {
    pub received: f64,
    pub unstamped: f64,
    pub overflow: f64,
}

fn random_cid() -> Result<[u8; CONNECTION_ID_LENGTH]> {
    let mut scid = [0u8; CONNECTION_ID_LENGTH];
    boring::rand::rand_bytes(&mut scid)
        .map_err(|e| Error::new(Status::GenericFailure, format!("random: {e}")))?;
    Ok(scid)
}

#[napi]
impl NativeEndpoint {
    /// An endpoint of the client role: binds a UDP socket; `connect` opens connections on it.
    #[napi(factory)]
    pub fn client(options: ClientEndpointOptions) -> Result<NativeEndpoint> {
        guard(|| {
            let address = socket_addr(&options.host, options.port)?;
            let config = client_config(&options).map_err(invalid)?;
            let socket = bind_udp(address, options.socket_buffer_bytes)?;
            // Migration is the server's decision; a client follows whatever path quiche uses.
            let endpoint = Endpoint::new(socket, config, true, options.keep_alive_ms, 0)
                .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
            Ok(NativeEndpoint {
                inner: Some(endpoint),
                waker: None,
                poisoned: false,
            })
        })
    }

    /// Opens a connection to `host`:`port` (an IP address) verifying `server_name` (TLS SNI and
    /// the certificate's name); the Initial leaves now. Established follows as an event.
    #[napi]
    pub fn connect(&mut self, server_name: String, host: String, port: u32) -> Result<u32> {
        let peer = socket_addr(&host, port)?;
        if server_name.is_empty() || server_name.len() > 253 {
            return Err(invalid("serverName must be 1 to 253 characters"));
        }
        let scid = random_cid()?;
        self.run(|e| {
            let local = e.local;
            let q = quiche::connect(
                Some(&server_name),
                &quiche::ConnectionId::from_ref(&scid),
                local,
                peer,
                &mut e.config,
            )
            .map_err(|err| Error::new(Status::GenericFailure, format!("connect: {err:?}")))?;
            let id = e.insert(q, peer, vec![scid.to_vec()]);
            e.mark_dirty(id);
            e.flush();
            Ok(id)
        })
    }

    /// A packet that came as `unknown` (its DCID names none of our connections) from the
    /// address of connection(s) we hold: if it ends in the reset token the server gave us, it
    /// is a stateless reset (RFC 9000 section 10.3) and quiche closes that connection (its
    /// Closed event follows at the next flush). The connection it ended, or 0.
    #[napi]
    pub fn take_stateless_reset(&mut self, packet: Uint8Array, host: String, port: u32) -> Result<u32> {
        let from = socket_addr(&host, port)?;
        if packet.len() < 21 || packet.len() > MAX_UDP_PAYLOAD * 48 {
            return Ok(0);
        }
        let tail: [u8; 16] = packet[packet.len() - 16..].try_into().unwrap_or([0; 16]);
        let token = u128::from_be_bytes(tail);
        self.run(|e| {
            let local = e.local;
            let found = e.conns.iter().find_map(|(&id, c)| {
                let ours = c.peer == from
                    && c.q
                        .peer_transport_params()
                        .and_then(|p| p.stateless_reset_token)
                        == Some(token);
                ours.then_some(id)
            });
            let Some(id) = found else { return Ok(0) };
            if let Some(conn) = e.conns.get_mut(&id) {
                let mut copy = packet.to_vec();
                let info = quiche::RecvInfo {
                    from,
                    to: local,
                };
                let _ = conn.q.recv(&mut copy, info);
            }
            e.mark_dirty(id);
            Ok(id)
        })
    }

    /// The certificate chain the server of connection `conn` presented (DER, leaf first).
    #[napi]
    pub fn peer_cert_chain(&mut self, conn: u32) -> Result<Option<Vec<Uint8Array>>> {
        self.run(|e| {
            let c = e.conn(conn).map_err(invalid)?;
            Ok(c.q
                .peer_cert_chain()
                .map(|chain| chain.into_iter().map(|der| Uint8Array::from(der.to_vec())).collect()))
        })
    }

    /// HOT PATH (load generator): queues one datagram; false when quiche's queue is full or the
    /// connection cannot send it. No exception per refusal, one napi call per packet.
    #[napi]
    pub fn try_dgram_send(&mut self, conn: u32, bytes: Uint8Array) -> Result<bool> {
        self.run(|e| {
            let Some(c) = e.conns.get_mut(&conn) else {
                return Ok(false);
            };
            if !c.established || c.q.is_dgram_send_queue_full() {
                return Ok(false);
            }
            let ok = c.q.dgram_send(&bytes).is_ok();
            if ok {
                e.mark_dirty(conn);
            }
            Ok(ok)
        })
    }

    /// Connection `conn`'s datagrams go to the voice sink from now on (load generator).
    #[napi]
    pub fn set_voice_sink(&mut self, conn: u32, on: bool) -> Result<()> {
        self.run(|e| {
            e.conn(conn).map_err(invalid)?.voice_sink = on;
            Ok(())
        })
    }

    /// The sink's (sent µs, received µs) pairs since the last call, flat; CLOCK_MONOTONIC.
    #[napi]
    pub fn take_voice_stamps(&mut self) -> Result<Float64Array> {
        self.run(|e| Ok(Float64Array::new(std::mem::take(&mut e.sink.stamps))))
    }

    #[napi]
    pub fn voice_sink_stats(&mut self) -> Result<VoiceSinkStats> {
        self.run(|e| {
            Ok(VoiceSinkStats {
                received: e.sink.received as f64,
                unstamped: e.sink.unstamped as f64,
                overflow: e.sink.overflow as f64,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(opus: &[u8]) -> Vec<u8> {
        // Quarter stream id 0, then a voice packet (voicePacket.ts): [1, [7], 1, 2, 0, bin8].
        let mut d = vec![0x00, 0x96, 1, 0x91, 7, 1, 2, 0];
        d.extend_from_slice(&[0xc4, opus.len() as u8]);
        d.extend_from_slice(opus);
        d
    }

    #[test]
    fn sink_reads_the_stamp_and_refuses_what_has_none() {
        let mut sink = VoiceSink::default();
        let mut opus = vec![0u8; 40];
        opus[..8].copy_from_slice(&(5u64 * 4_294_967_296 + 7).to_be_bytes());
        sink.record(&datagram(&opus));
        sink.record(&[]);
        sink.record(&[0x00, 0xff]);
        sink.record(&datagram(&[1, 2, 3]));
        assert_eq!(sink.received, 4);
        assert_eq!(sink.unstamped, 3);
        assert_eq!(sink.stamps.len(), 2);
        assert_eq!(sink.stamps[0], 5.0 * 4_294_967_296.0 + 7.0);
    }

}
