"""An ODIN native client written against docs/protocol.md with aioquic (not our QUIC stack).

It opens a WebTransport session on /main, joins a room (JoinRoom {token} on the main stream,
then a room stream bound by the stream id), starts its media, sends voice datagrams and
records the ones it receives, then closes the session with CLOSE_WEBTRANSPORT_SESSION and
waits for the server's FIN on the CONNECT stream.

  python aioquic_client.py HOST PORT ROOM TOKEN DRAFT COUNT

DRAFT is `draft02` (aioquic's own WebTransport: SETTINGS_ENABLE_WEBTRANSPORT,
`:protocol webtransport`, `sec-webtransport-http3-draft02`) or `current`
(draft-ietf-webtrans-http3-15/16: SETTINGS_WT_ENABLED and WT_INITIAL_* limits instead,
`:protocol webtransport-h3`, session flow-control capsules read and obeyed). COUNT voice
packets are sent once the test says `go` on stdin; the client then waits for COUNT packets
from the other peer (20 s at most). Progress and the result are JSON lines on stdout.
"""

import asyncio
import json
import os
import ssl
import sys

import msgpack
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.buffer import Buffer, BufferReadError
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection, H3Stream, Setting
from aioquic.h3.events import (
    DataReceived,
    DatagramReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated

# draft-ietf-webtrans-http3-15/16: section 3.1 (SETTINGS_WT_ENABLED), 5.5 (initial limits),
# 5.6 (flow-control capsules), and the capsules both drafts share.
SETTINGS_WT_ENABLED = 0x2C7CF000
SETTINGS_WT_INITIAL_MAX_DATA = 0x2B61
SETTINGS_WT_INITIAL_MAX_STREAMS_UNI = 0x2B64
SETTINGS_WT_INITIAL_MAX_STREAMS_BIDI = 0x2B65
CLOSE_SESSION = 0x2843
DRAIN_SESSION = 0x78AE
WT_MAX_DATA = 0x190B4D3D
WT_MAX_STREAMS_BIDI = 0x190B4D3F
WT_MAX_STREAMS_UNI = 0x190B4D40
CAPSULE_NAMES = {
    CLOSE_SESSION: "WT_CLOSE_SESSION",
    DRAIN_SESSION: "WT_DRAIN_SESSION",
    WT_MAX_DATA: "WT_MAX_DATA",
    WT_MAX_STREAMS_BIDI: "WT_MAX_STREAMS_BIDI",
    WT_MAX_STREAMS_UNI: "WT_MAX_STREAMS_UNI",
    0x190B4D41: "WT_DATA_BLOCKED",
    0x190B4D43: "WT_STREAMS_BLOCKED_BIDI",
    0x190B4D44: "WT_STREAMS_BLOCKED_UNI",
}
# What this client grants the server per session (current draft): a data window small enough
# that the server's first notifications exhaust it, so its WT_DATA_BLOCKED and our WT_MAX_DATA
# are exercised.
GRANT_DATA = 256
GRANT_STREAMS = 4


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class CurrentDraftH3(H3Connection):
    """aioquic's HTTP/3 with the current draft's settings instead of draft-02's."""

    def _get_local_settings(self):
        settings = super()._get_local_settings()
        settings.pop(Setting.ENABLE_WEBTRANSPORT, None)
        settings[SETTINGS_WT_ENABLED] = 1
        settings[SETTINGS_WT_INITIAL_MAX_DATA] = GRANT_DATA
        settings[SETTINGS_WT_INITIAL_MAX_STREAMS_BIDI] = GRANT_STREAMS
        settings[SETTINGS_WT_INITIAL_MAX_STREAMS_UNI] = GRANT_STREAMS
        return settings


def varint(value):
    buf = Buffer(capacity=8)
    buf.push_uint_var(value)
    return buf.data


def frame_message(message):
    """docs/protocol.md "Streams and framing": a varint length, then the MessagePack message."""
    body = msgpack.packb(message, use_bin_type=True)
    return varint(len(body)) + body


class MessageReader:
    def __init__(self):
        self.buffer = b""

    def push(self, data):
        self.buffer += data
        messages = []
        while self.buffer:
            buf = Buffer(data=self.buffer)
            try:
                length = buf.pull_uint_var()
            except BufferReadError:
                break
            start = buf.tell()
            if len(self.buffer) < start + length:
                break
            messages.append(msgpack.unpackb(self.buffer[start : start + length], raw=False))
            self.buffer = self.buffer[start + length :]
        return messages


class OdinClient(QuicConnectionProtocol):
    def __init__(self, *args, draft, **kwargs):
        super().__init__(*args, **kwargs)
        self.draft = draft
        self.http = (CurrentDraftH3 if draft == "current" else H3Connection)(self._quic, enable_webtransport=True)
        self.session_id = None
        self.response = asyncio.get_running_loop().create_future()
        self.connect_ended = asyncio.get_running_loop().create_future()
        self.readers = {}
        self.waiters = {}
        self.joined = asyncio.get_running_loop().create_future()
        self.voice = []
        self.voice_event = asyncio.Event()
        self.capsules = []
        self.capsule_buffer = b""
        self.received_stream_bytes = 0
        self.granted_data = GRANT_DATA
        self.next_msgid = 1

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            for future in (self.response, self.joined, self.connect_ended):
                if not future.done():
                    future.set_exception(ConnectionError(f"connection closed: {event.reason_phrase}"))
                    future.exception()  # retrieved: whoever awaits it still gets it
        for http_event in self.http.handle_event(event):
            self.http_event_received(http_event)

    def http_event_received(self, event):
        if isinstance(event, HeadersReceived) and event.stream_id == self.session_id:
            if not self.response.done():
                self.response.set_result(dict(event.headers))
        elif isinstance(event, DataReceived) and event.stream_id == self.session_id:
            self.read_capsules(event.data)
            if event.stream_ended and not self.connect_ended.done():
                self.connect_ended.set_result(True)
        elif isinstance(event, WebTransportStreamDataReceived):
            self.received_stream_bytes += len(event.data)
            if self.draft == "current":
                self.obey_flow_control()
            reader = self.readers.setdefault(event.stream_id, MessageReader())
            for message in reader.push(event.data):
                self.on_message(event.stream_id, message)
        elif isinstance(event, DatagramReceived):
            self.voice.append(event.data)
            self.voice_event.set()

    def obey_flow_control(self):
        """Current draft section 5: the server must stay within our grant; we slide the window."""
        if self.received_stream_bytes > self.granted_data:
            emit("error", message=f"server sent {self.received_stream_bytes} stream bytes, granted {self.granted_data}")
        if self.granted_data - self.received_stream_bytes <= GRANT_DATA // 2:
            self.granted_data = self.received_stream_bytes + GRANT_DATA
            value = varint(self.granted_data)
            self.http.send_data(self.session_id, varint(WT_MAX_DATA) + varint(len(value)) + value, end_stream=False)
            self.transmit()

    def read_capsules(self, data):
        """RFC 9297 section 3.2: type, length, value; the names go to the result."""
        self.capsule_buffer += data
        while True:
            buf = Buffer(data=self.capsule_buffer)
            try:
                kind = buf.pull_uint_var()
                length = buf.pull_uint_var()
                value = buf.pull_bytes(length)
            except BufferReadError:
                return
            self.capsule_buffer = self.capsule_buffer[buf.tell() :]
            self.capsules.append(CAPSULE_NAMES.get(kind, hex(kind)))
            if kind == CLOSE_SESSION:
                emit("server-closed", code=int.from_bytes(value[:4], "big"), reason=value[4:].decode())

    def on_message(self, stream_id, message):
        if message[0] == 1:  # [1, msgid, error, result]
            waiter = self.waiters.pop(message[1], None)
            if waiter is not None:
                waiter.set_result(message)
        elif message[0] == 2 and message[1] == "RoomUpdated":
            for update in message[2].get("updates", []):
                if update.get("kind") == "Joined" and not self.joined.done():
                    self.joined.set_result(update)

    async def open_session(self, authority):
        settings_deadline = asyncio.get_running_loop().time() + 5
        while self.http.received_settings is None:
            if asyncio.get_running_loop().time() > settings_deadline:
                raise TimeoutError("no SETTINGS from the server")
            await asyncio.sleep(0.01)
        server_settings = self.http.received_settings
        self.session_id = self._quic.get_next_available_stream_id()
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport-h3" if self.draft == "current" else b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", b"/main"),
        ]
        if self.draft == "draft02":
            headers.append((b"sec-webtransport-http3-draft02", b"1"))
        self.http.send_headers(self.session_id, headers, end_stream=False)
        self.transmit()
        response = await asyncio.wait_for(self.response, 5)
        return server_settings, response

    def open_stream(self):
        stream_id = self.http.create_webtransport_stream(self.session_id, is_unidirectional=False)
        # aioquic 1.7.2 does not remember that a bidirectional stream it opened is a WebTransport
        # stream, so the server's answers on it would be parsed as HTTP/3 frames: mark it the
        # way aioquic marks one the peer opened (its 0x41 signal parsed).
        stream = H3Stream(stream_id)
        stream.frame_type = FrameType.WEBTRANSPORT_STREAM
        stream.session_id = self.session_id
        self.http._stream[stream_id] = stream
        return stream_id

    async def request(self, stream_id, method, params):
        msgid = self.next_msgid
        self.next_msgid += 1
        future = asyncio.get_running_loop().create_future()
        self.waiters[msgid] = future
        self._quic.send_stream_data(stream_id, frame_message([0, msgid, method, params]))
        self.transmit()
        answer = await asyncio.wait_for(future, 5)
        if answer[2] is not None:
            raise RuntimeError(f"{method} failed: {answer[2]}")
        return answer[3]

    def send_voice(self, packet):
        self.http.send_datagram(self.session_id, packet)
        self.transmit()

    async def close_session(self):
        reason = b"done"
        capsule = varint(CLOSE_SESSION) + varint(4 + len(reason)) + (0).to_bytes(4, "big") + reason
        self.http.send_data(self.session_id, capsule, end_stream=True)
        self.transmit()
        await asyncio.wait_for(self.connect_ended, 5)


async def main():
    host, port, room, token, draft, count = sys.argv[1:7]
    port, count = int(port), int(count)
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=H3_ALPN,
        max_datagram_frame_size=65536,
        verify_mode=ssl.CERT_NONE,  # the test grid's development certificate
        server_name="localhost",
    )
    create = lambda *args, **kwargs: OdinClient(*args, draft=draft, **kwargs)  # noqa: E731
    async with connect(host, port, configuration=configuration, create_protocol=create) as client:
        settings, response = await client.open_session(f"localhost:{port}")
        emit(
            "session",
            status=response.get(b":status", b"").decode(),
            draft_header=response.get(b"sec-webtransport-http3-draft", b"").decode(),
            server_wt_enabled=settings.get(SETTINGS_WT_ENABLED),
            server_enable_webtransport=settings.get(Setting.ENABLE_WEBTRANSPORT),
        )
        main_stream = client.open_stream()
        joined_answer = await client.request(
            main_stream,
            "JoinRoom",
            {"token": token, "room_id": room, "user_data": b"", "position": [0.0, 0.0]},
        )
        room_stream = client.open_stream()
        # docs/protocol.md: a room stream's first message is the stream id, a MessagePack integer.
        client._quic.send_stream_data(room_stream, frame_message(joined_answer["stream_id"]))
        client.transmit()
        joined = await asyncio.wait_for(client.joined, 5)
        media_id = joined["media_ids"][-1]
        await client.request(room_stream, "StartMedia", {"media_id": media_id, "properties": {"kind": "audio"}})
        emit("ready", peer_id=joined_answer["peer_id"], media_id=media_id)

        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            raise RuntimeError(f"expected 'go' on stdin, got {line!r}")
        sent = []
        for i in range(count):
            opus = os.urandom(20 + i % 100)
            packet = msgpack.packb([1, [media_id], 5000 + i, (5000 + i) * 960, 0, opus], use_bin_type=True)
            sent.append(packet)
            client.send_voice(packet)
        deadline = asyncio.get_running_loop().time() + 20
        while len(client.voice) < count and asyncio.get_running_loop().time() < deadline:
            client.voice_event.clear()
            try:
                await asyncio.wait_for(client.voice_event.wait(), 1)
            except TimeoutError:
                pass
        await client.close_session()
        emit(
            "done",
            sent=[packet.hex() for packet in sent],
            received=[packet.hex() for packet in client.voice],
            capsules=client.capsules,
            stream_bytes_received=client.received_stream_bytes,
            granted_data=client.granted_data,
        )
        client._quic.close(error_code=0x100, reason_phrase="bye")  # H3_NO_ERROR
        client.transmit()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:  # noqa: BLE001 - reported to the test as a JSON line
        emit("error", message=f"{type(error).__name__}: {error}")
        sys.exit(1)
