//! What crosses into JavaScript: one array of events per `poll()` (or per call that produced
//! any), in the order they happened.

use napi::bindgen_prelude::Uint8Array;
use std::net::SocketAddr;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A packet for no connection we know (data, host, port): statelessResponder.ts decides.
    Unknown = 0,
    Established = 1,
    StreamData = 2,
    /// The peer reset a stream it was sending (RESET_STREAM): stream, code.
    StreamReset = 3,
    Datagram = 4,
    Closed = 5,
}

pub struct CloseError {
    pub is_app: bool,
    pub error_code: f64,
    pub reason: Vec<u8>,
}

pub struct Event {
    pub kind: EventKind,
    pub conn: u32,
    pub stream: Option<f64>,
    pub data: Option<Vec<u8>>,
    pub fin: bool,
    pub code: Option<f64>,
    pub peer: Option<SocketAddr>,
    pub peer_error: Option<CloseError>,
    pub local_error: Option<CloseError>,
    pub timed_out: bool,
    /// A datagram the addon already forwarded to the native receivers of its media.
    pub forwarded: bool,
}

impl Event {
    pub fn of(kind: EventKind, conn: u32) -> Event {
        Event {
            kind,
            conn,
            stream: None,
            data: None,
            fin: false,
            code: None,
            peer: None,
            peer_error: None,
            local_error: None,
            timed_out: false,
            forwarded: false,
        }
    }
    pub fn unknown(data: Vec<u8>, from: SocketAddr) -> Event {
        Event {
            data: Some(data),
            peer: Some(from),
            ..Event::of(EventKind::Unknown, 0)
        }
    }
    pub fn datagram(conn: u32, data: Vec<u8>, forwarded: bool) -> Event {
        Event {
            data: Some(data),
            forwarded,
            ..Event::of(EventKind::Datagram, conn)
        }
    }
    pub fn stream_data(conn: u32, stream: u64, data: Vec<u8>, fin: bool) -> Event {
        Event {
            stream: Some(stream as f64),
            data: Some(data),
            fin,
            ..Event::of(EventKind::StreamData, conn)
        }
    }
    pub fn aborted(conn: u32, stream: u64, code: u64, kind: EventKind) -> Event {
        Event {
            stream: Some(stream as f64),
            code: Some(code as f64),
            ..Event::of(kind, conn)
        }
    }
    pub fn closed(
        conn: u32,
        peer_error: Option<CloseError>,
        local_error: Option<CloseError>,
        timed_out: bool,
    ) -> Event {
        Event {
            peer_error,
            local_error,
            timed_out,
            ..Event::of(EventKind::Closed, conn)
        }
    }
}

#[napi(object)]
pub struct JsCloseError {
    pub is_app: bool,
    pub error_code: f64,
    pub reason: Uint8Array,
}

#[napi(object)]
pub struct JsEvent {
    pub kind: u32,
    pub conn: u32,
    pub stream: Option<f64>,
    pub data: Option<Uint8Array>,
    pub fin: bool,
    pub code: Option<f64>,
    pub host: Option<String>,
    pub port: Option<u32>,
    pub peer_error: Option<JsCloseError>,
    pub local_error: Option<JsCloseError>,
    pub timed_out: bool,
    pub forwarded: bool,
}

fn js_close(e: Option<CloseError>) -> Option<JsCloseError> {
    e.map(|e| JsCloseError {
        is_app: e.is_app,
        error_code: e.error_code,
        reason: Uint8Array::from(e.reason),
    })
}

impl From<Event> for JsEvent {
    fn from(e: Event) -> JsEvent {
        JsEvent {
            kind: e.kind as u32,
            conn: e.conn,
            stream: e.stream,
            data: e.data.map(Uint8Array::from),
            fin: e.fin,
            code: e.code,
            host: e.peer.map(|p| p.ip().to_string()),
            port: e.peer.map(|p| u32::from(p.port())),
            peer_error: js_close(e.peer_error),
            local_error: js_close(e.local_error),
            timed_out: e.timed_out,
            forwarded: e.forwarded,
        }
    }
}
