//! The stateless packets of the server role, written by quiche 0.30: the header of a packet for
//! no known connection, Version Negotiation and Retry. JavaScript decides which answer a packet
//! gets (server/transports/quic/statelessResponder.ts: rate limits, address tokens, admission);
//! only the wire formats are here, so the server needs no second QUIC library for them.

use napi::bindgen_prelude::Uint8Array;
use napi::Result;

use crate::endpoint::{CONNECTION_ID_LENGTH, MAX_UDP_PAYLOAD};
use crate::guard::{guard, invalid};

/// A QUIC packet header. `ty`: 0 Initial, 1 Retry, 2 Handshake, 3 0-RTT, 4 Version
/// Negotiation, 5 Short (server/transports/quic/quiche.ts PacketType).
#[napi(object)]
pub struct JsQuicHeader {
    pub ty: u32,
    pub version: u32,
    pub dcid: Uint8Array,
    pub scid: Uint8Array,
    pub token: Option<Uint8Array>,
}

fn type_number(ty: quiche::Type) -> u32 {
    match ty {
        quiche::Type::Initial => 0,
        quiche::Type::Retry => 1,
        quiche::Type::Handshake => 2,
        quiche::Type::ZeroRTT => 3,
        quiche::Type::VersionNegotiation => 4,
        quiche::Type::Short => 5,
    }
}

/// The header of a datagram's first packet (short headers: our connection id length); null
/// for bytes that are not QUIC.
#[napi]
pub fn parse_quic_header(packet: Uint8Array) -> Result<Option<JsQuicHeader>> {
    guard(|| {
        let mut copy = packet.to_vec();
        let Ok(header) = quiche::Header::from_slice(&mut copy, CONNECTION_ID_LENGTH) else {
            return Ok(None);
        };
        Ok(Some(JsQuicHeader {
            ty: type_number(header.ty),
            version: header.version,
            dcid: header.dcid.to_vec().into(),
            scid: header.scid.to_vec().into(),
            token: header.token.map(Uint8Array::from),
        }))
    })
}

/// Whether quiche speaks QUIC `version`.
#[napi]
pub fn quic_version_is_supported(version: u32) -> bool {
    quiche::version_is_supported(version)
}

fn connection_id(bytes: &[u8], what: &str) -> Result<quiche::ConnectionId<'static>> {
    if bytes.len() > quiche::MAX_CONN_ID_LEN {
        return Err(invalid(format!(
            "{what} longer than {} bytes",
            quiche::MAX_CONN_ID_LEN
        )));
    }
    Ok(quiche::ConnectionId::from_vec(bytes.to_vec()))
}

/// A Version Negotiation packet answering a client's Initial (`scid`, `dcid`: the client's).
#[napi]
pub fn negotiate_version(scid: Uint8Array, dcid: Uint8Array) -> Result<Uint8Array> {
    guard(|| {
        let scid = connection_id(&scid, "scid")?;
        let dcid = connection_id(&dcid, "dcid")?;
        let mut out = vec![0u8; MAX_UDP_PAYLOAD];
        let length = quiche::negotiate_version(&scid, &dcid, &mut out)
            .map_err(|e| invalid(format!("negotiate_version: {e}")))?;
        out.truncate(length);
        Ok(out.into())
    })
}

/// A Retry packet (RFC 9000 section 17.2.5) to the client's Initial: `scid`, `dcid` the
/// client's, `new_scid` the connection id we choose, `token` the address token.
#[napi]
pub fn retry_packet(
    scid: Uint8Array,
    dcid: Uint8Array,
    new_scid: Uint8Array,
    token: Uint8Array,
    version: u32,
) -> Result<Uint8Array> {
    guard(|| {
        let scid = connection_id(&scid, "scid")?;
        let dcid = connection_id(&dcid, "dcid")?;
        let new_scid = connection_id(&new_scid, "newScid")?;
        if token.len() > MAX_UDP_PAYLOAD / 2 {
            return Err(invalid("token too long for a Retry packet"));
        }
        let mut out = vec![0u8; MAX_UDP_PAYLOAD];
        let length = quiche::retry(&scid, &dcid, &new_scid, &token, version, &mut out)
            .map_err(|e| invalid(format!("retry: {e}")))?;
        out.truncate(length);
        Ok(out.into())
    })
}
