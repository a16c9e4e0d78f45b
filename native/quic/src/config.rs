//! The quiche Config of the server role from PEM strings: the same settings as
//! server/transports/quic/quiche.ts createQuicheConfig, so both engines announce the same
//! transport parameters. `transport_config` holds the settings the client role (client.rs)
//! shares with it.

use boring::pkey::PKey;
use boring::ssl::{SslContextBuilder, SslMethod, SslRef};
use boring::x509::X509;

use crate::endpoint::MAX_UDP_PAYLOAD;

#[napi(object)]
pub struct ReceiveWindows {
    pub connection: u32,
    pub bidi_remote: u32,
    pub bidi_local: u32,
    pub uni: u32,
    pub max_stream: u32,
    pub max_connection: u32,
}

#[napi(object)]
pub struct EndpointOptions {
    pub host: String,
    pub port: u32,
    pub certificate_pem: String,
    pub private_key_pem: String,
    pub alpn: Vec<String>,
    /// `max_idle_timeout`, ms (0: none).
    pub idle_timeout_ms: u32,
    /// Accept packets of a connection from a new address (RFC 9000 section 9).
    pub migration: bool,
    /// PING after that long without traffic, ms (0: never).
    pub keep_alive_ms: u32,
    /// Drop voice datagrams that waited longer than this in quiche's queue, ms (0 or absent: never).
    pub pre_send_timeout_ms: Option<u32>,
    pub datagram_recv_queue: u32,
    pub datagram_send_queue: u32,
    pub windows: ReceiveWindows,
    pub socket_buffer_bytes: Option<u32>,
}

pub fn build(options: &EndpointOptions) -> Result<quiche::Config, String> {
    let mut tls =
        SslContextBuilder::new(SslMethod::tls()).map_err(|e| format!("TLS context: {e}"))?;
    let chain = X509::stack_from_pem(options.certificate_pem.as_bytes())
        .map_err(|e| format!("certificate PEM: {e}"))?;
    let Some(leaf) = chain.first() else {
        return Err("certificate PEM holds no certificate".into());
    };
    tls.set_certificate(leaf)
        .map_err(|e| format!("certificate: {e}"))?;
    for extra in chain.iter().skip(1) {
        tls.add_extra_chain_cert(extra.clone())
            .map_err(|e| format!("certificate chain: {e}"))?;
    }
    let key = PKey::private_key_from_pem(options.private_key_pem.as_bytes())
        .map_err(|e| format!("private key PEM: {e}"))?;
    tls.set_private_key(&key)
        .map_err(|e| format!("private key: {e}"))?;
    tls.check_private_key()
        .map_err(|e| format!("private key does not match the certificate: {e}"))?;
    // Memory per idle peer (issue 17): BoringSSL gives each connection its own copy of the
    // context's configuration (certificate credential, ALPN, transport parameters ...) and by
    // default keeps it for the connection's life, for renegotiation and queries, neither of
    // which a QUIC server does. Shedding frees it when the handshake completes
    // (SSL_set_shed_handshake_config); the ClientHello callback is the first point where the
    // connection's SSL exists for us (quiche makes it). Measured with nativePeerMemory.ts.
    tls.set_select_certificate_callback(|mut hello| {
        shed_handshake_config(hello.ssl_mut());
        Ok(())
    });
    let mut config = transport_config(
        tls,
        &options.alpn,
        options.idle_timeout_ms,
        &options.windows,
        options.datagram_recv_queue,
        options.datagram_send_queue,
    )?;
    config.verify_peer(false);
    config.set_disable_active_migration(!options.migration);
    // RESET_STREAM_AT (draft-ietf-quic-reliable-stream-reset, added to quiche by
    // patches/quiche-0.30.0-reset-stream-at.patch): the current WebTransport draft requires
    // the transport parameter of both ends (webtransport-go refuses a server without it), and a
    // WebTransport stream reset that way still delivers its session id.
    config.enable_reset_stream_at(true);
    Ok(config)
}

/// A quiche Config on `tls` with the transport settings both roles share: ALPN, idle timeout,
/// UDP payload sizes, receive windows, stream limits, datagram queues, no grease. The caller adds
/// what differs by role (peer verification, migration, RESET_STREAM_AT).
pub fn transport_config(
    tls: SslContextBuilder,
    alpn: &[String],
    idle_timeout_ms: u32,
    windows: &ReceiveWindows,
    datagram_recv_queue: u32,
    datagram_send_queue: u32,
) -> Result<quiche::Config, String> {
    let mut config = quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, tls)
        .map_err(|e| format!("{e:?}"))?;
    let protos: Vec<&[u8]> = alpn.iter().map(|p| p.as_bytes()).collect();
    config
        .set_application_protos(&protos)
        .map_err(|e| format!("alpn: {e:?}"))?;
    config.set_max_idle_timeout(idle_timeout_ms.into());
    config.set_max_recv_udp_payload_size(MAX_UDP_PAYLOAD);
    config.set_max_send_udp_payload_size(MAX_UDP_PAYLOAD);
    config.set_initial_max_data(windows.connection.into());
    config.set_initial_max_stream_data_bidi_local(windows.bidi_local.into());
    config.set_initial_max_stream_data_bidi_remote(windows.bidi_remote.into());
    config.set_initial_max_stream_data_uni(windows.uni.into());
    config.set_max_stream_window(windows.max_stream.into());
    config.set_max_connection_window(windows.max_connection.into());
    config.set_initial_max_streams_bidi(32);
    config.set_initial_max_streams_uni(16);
    config.enable_dgram(
        true,
        datagram_recv_queue as usize,
        datagram_send_queue as usize,
    );
    config.grease(false);
    Ok(config)
}

extern "C" {
    // BoringSSL (boring-sys, linked into this library through boring): see `build`.
    fn SSL_set_shed_handshake_config(ssl: *mut std::ffi::c_void, enable: std::ffi::c_int);
}

/// Frees `ssl`'s copy of the context configuration once its handshake completes.
fn shed_handshake_config(ssl: &mut SslRef) {
    // SAFETY: an `SslRef` is the `SSL` itself (foreign-types' opaque reference: the reference's
    // address is the C pointer), alive for the call; the function only sets a flag on it.
    unsafe { SSL_set_shed_handshake_config(ssl as *mut SslRef as *mut std::ffi::c_void, 1) }
}
