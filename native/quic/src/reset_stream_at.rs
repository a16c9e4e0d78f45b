//! Tests of `reset_stream_at` (draft-ietf-quic-reliable-stream-reset) as the addon configures
//! it: quiche 0.30 plus patches/quiche-0.30.0-reset-stream-at.patch, whose own unit tests
//! (frame parser, receive buffer, transport parameters) run with
//! native/quic/test-quiche-patch.sh. These run a real handshake between the server config of
//! `config::build` and a quiche client in memory, and check what the server advertises.

use std::net::SocketAddr;

use crate::config::{build, EndpointOptions, ReceiveWindows};
use crate::test_cert::self_signed;

fn server_config() -> quiche::Config {
    let (certificate_pem, private_key_pem) = self_signed();
    build(&EndpointOptions {
        host: "127.0.0.1".into(),
        port: 0,
        certificate_pem,
        private_key_pem,
        alpn: vec!["h3".into()],
        idle_timeout_ms: 30_000,
        migration: true,
        keep_alive_ms: 0,
        pre_send_timeout_ms: None,
        datagram_recv_queue: 64,
        datagram_send_queue: 64,
        windows: ReceiveWindows {
            connection: 1 << 20,
            bidi_remote: 1 << 16,
            bidi_local: 1 << 16,
            uni: 1 << 16,
            max_stream: 1 << 20,
            max_connection: 1 << 22,
        },
        socket_buffer_bytes: None,
    })
    .unwrap()
}

fn client_config(reset_stream_at: bool) -> quiche::Config {
    let mut config = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
    config.set_application_protos(&[b"h3"]).unwrap();
    config.verify_peer(false);
    config.set_initial_max_data(1 << 20);
    config.set_initial_max_stream_data_bidi_local(1 << 16);
    config.set_initial_max_stream_data_bidi_remote(1 << 16);
    config.set_initial_max_streams_bidi(16);
    config.enable_dgram(true, 16, 16);
    config.enable_reset_stream_at(reset_stream_at);
    config
}

const CLIENT: &str = "127.0.0.1:40000";
const SERVER: &str = "127.0.0.1:4433";

/// Delivers everything `from` has to send to `to`; whether anything moved.
fn flush(from: &mut quiche::Connection, to: &mut quiche::Connection) -> bool {
    let mut buf = [0; 65535];
    let mut moved = false;
    while let Ok((n, info)) = from.send(&mut buf) {
        let recv = quiche::RecvInfo {
            from: info.from,
            to: info.to,
        };
        to.recv(&mut buf[..n], recv).unwrap();
        moved = true;
    }
    moved
}

/// Exchanges packets until both ends are established or nothing moves.
fn handshake(client: &mut quiche::Connection, server: &mut quiche::Connection) {
    for _ in 0..20 {
        let moved = flush(client, server) | flush(server, client);
        if !moved || (client.is_established() && server.is_established()) {
            break;
        }
    }
}

fn connect(client_reset_stream_at: bool) -> (quiche::Connection, quiche::Connection) {
    let (client_addr, server_addr): (SocketAddr, SocketAddr) =
        (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    let mut ccfg = client_config(client_reset_stream_at);
    let mut scfg = server_config();
    let mut client = quiche::connect(
        Some("localhost"),
        &quiche::ConnectionId::from_ref(&[1; 16]),
        client_addr,
        server_addr,
        &mut ccfg,
    )
    .unwrap();
    let mut server = quiche::accept(
        &quiche::ConnectionId::from_ref(&[2; 16]),
        None,
        server_addr,
        client_addr,
        &mut scfg,
    )
    .unwrap();
    handshake(&mut client, &mut server);
    assert!(client.is_established() && server.is_established());
    (client, server)
}

#[test]
fn the_server_advertises_reset_stream_at_and_sees_the_clients() {
    let (client, server) = connect(true);
    assert!(client.peer_transport_params().unwrap().reset_stream_at);
    assert!(server.peer_transport_params().unwrap().reset_stream_at);
}

#[test]
fn a_client_without_it_still_connects() {
    let (client, server) = connect(false);
    assert!(client.peer_transport_params().unwrap().reset_stream_at);
    assert!(!server.peer_transport_params().unwrap().reset_stream_at);
}

#[test]
fn the_largest_server_parameters_fit() {
    // After a Retry the server also sends the original and the retry connection ids: with
    // 20-byte ids and reset_stream_at this overflowed quiche's 128-byte buffer (the patch
    // grows it), and every accept failed.
    let (client_addr, server_addr): (SocketAddr, SocketAddr) =
        (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    let mut scfg = server_config();
    scfg.set_stateless_reset_token(Some(u128::MAX));
    let accepted = quiche::accept(
        &quiche::ConnectionId::from_ref(&[3; 20]),
        Some(&quiche::ConnectionId::from_ref(&[4; 20])),
        server_addr,
        client_addr,
        &mut scfg,
    );
    assert!(accepted.is_ok(), "{:?}", accepted.err());
}
