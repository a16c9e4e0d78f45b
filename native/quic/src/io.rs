//! Batched UDP I/O of the endpoint (Linux): `recvmmsg` with UDP GRO to read many datagrams per
//! system call, and `sendmmsg` with UDP GSO (`UDP_SEGMENT`) to write everything one poll
//! produced in as few calls as possible. Before this, the endpoint made one `recvfrom` and one
//! `sendto` per QUIC packet, which was most of its kernel time.
//!
//! Hand-written on `libc` rather than `quinn-udp` (crates.io): quinn-udp sends one `sendmsg`
//! per destination (a GSO train to one peer), while an SFU's poll produces one or two packets
//! for each of many peers; `sendmmsg` is what batches those, and quinn-udp does not offer it.
//! The rest (GRO on receive, GSO with a fallback when the device refuses it) is small enough
//! to keep here, with the fallback tested below without a kernel.
//!
//! Ownership: the batches hold their buffers for the endpoint's life, so the hot path does no
//! heap allocation; `SendBatch::slot` hands quiche the place to write its next packet.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use crate::endpoint::MAX_UDP_PAYLOAD;

// linux/udp.h: not exported by the libc crate for glibc targets.
const SOL_UDP: libc::c_int = 17;
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

/// Messages per `recvmmsg`.
pub const RECV_BATCH: usize = 32;
/// A GRO read can hold up to 64 KB of coalesced segments.
const RECV_BUFFER: usize = 65535;
/// Messages per `sendmmsg`.
pub const SEND_BATCH: usize = 64;
/// Bytes the send batch holds before it must be flushed (about 190 full packets).
const SEND_BUFFER: usize = 256 * 1024;
/// The kernel's UDP_MAX_SEGMENTS is 64 (128 since 6.x); the payload of one GSO send must
/// also fit one IP datagram.
const MAX_GSO_SEGMENTS: usize = 64;
const MAX_GSO_BYTES: usize = 65000;

/// Turns UDP GRO on (Linux 5.0+); false when the kernel does not have it.
pub fn enable_gro(fd: RawFd) -> bool {
    setsockopt_int(fd, SOL_UDP, UDP_GRO, 1)
}

/// Whether the kernel accepts UDP_SEGMENT on this socket (Linux 4.18+).
pub fn gso_supported(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd is a socket; value and len live for the call.
    unsafe {
        libc::getsockopt(
            fd,
            SOL_UDP,
            UDP_SEGMENT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        ) == 0
    }
}

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: fd is a socket; value lives for the call.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; we fill the variant we use.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the kernel wrote a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the kernel wrote a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Room for one cmsg carrying an int (UDP_GRO) or a u16 (UDP_SEGMENT), 8-byte aligned.
type Control = [u64; 4];

/// One `recvmmsg` worth of datagrams. A message read with GRO holds several datagrams of the
/// same sender, all `segment` bytes long but the last. The C structures the kernel reads are
/// kept between calls (zeroing them per call cost more than the call on small batches).
pub struct RecvBatch {
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<Control>,
    iovecs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    meta: Vec<RecvMeta>,
    count: usize,
}

#[derive(Clone, Copy)]
struct RecvMeta {
    from: Option<SocketAddr>,
    len: usize,
    segment: usize,
}

impl Default for RecvBatch {
    /// An empty batch that holds nothing (what `mem::take` leaves behind); `new` for reading.
    fn default() -> Self {
        RecvBatch {
            bufs: Vec::new(),
            names: Vec::new(),
            controls: Vec::new(),
            iovecs: Vec::new(),
            hdrs: Vec::new(),
            meta: Vec::new(),
            count: 0,
        }
    }
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            // Pages are touched only as far as the kernel writes: 2 MB of address space, a few
            // pages of memory at voice packet sizes.
            bufs: vec![0u8; RECV_BATCH * RECV_BUFFER],
            // SAFETY: all-zero C structs are valid values.
            names: vec![unsafe { zeroed() }; RECV_BATCH],
            controls: vec![[0; 4]; RECV_BATCH],
            iovecs: vec![unsafe { zeroed() }; RECV_BATCH],
            hdrs: vec![unsafe { zeroed() }; RECV_BATCH],
            meta: vec![
                RecvMeta {
                    from: None,
                    len: 0,
                    segment: 0
                };
                RECV_BATCH
            ],
            count: 0,
        }
    }

    /// Reads up to RECV_BATCH messages without blocking. Ok(0) never happens: an empty socket
    /// is `WouldBlock`.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        assert_eq!(self.hdrs.len(), RECV_BATCH, "recv on an empty RecvBatch");
        for i in 0..RECV_BATCH {
            self.iovecs[i] = libc::iovec {
                iov_base: self.bufs[i * RECV_BUFFER..].as_mut_ptr().cast(),
                iov_len: RECV_BUFFER,
            };
            let hdr = &mut self.hdrs[i].msg_hdr;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = self.controls[i].as_mut_ptr().cast();
            hdr.msg_controllen = size_of::<Control>() as _;
            hdr.msg_flags = 0;
        }
        let n = loop {
            // SAFETY: every pointer set above points into this batch's own heap buffers,
            // which live and stay in place for the call.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    RECV_BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        for i in 0..n {
            let len = self.hdrs[i].msg_len as usize;
            let segment = gro_segment(&self.hdrs[i].msg_hdr).unwrap_or(len).max(1);
            self.meta[i] = RecvMeta {
                from: from_sockaddr(&self.names[i]),
                len,
                segment,
            };
        }
        self.count = n;
        Ok(n)
    }

    /// Calls `each` with every datagram of the last `recv`, in order, splitting GRO messages.
    pub fn for_each(&mut self, mut each: impl FnMut(&mut [u8], SocketAddr)) {
        for i in 0..self.count {
            let RecvMeta { from, len, segment } = self.meta[i];
            let Some(from) = from else { continue };
            let start = i * RECV_BUFFER;
            for datagram in self.bufs[start..start + len].chunks_mut(segment) {
                each(datagram, from);
            }
        }
        self.count = 0;
    }
}

fn gro_segment(hdr: &libc::msghdr) -> Option<usize> {
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG macros walk within it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                let value = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int);
                return usize::try_from(value).ok();
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    None
}

/// One message of a `sendmmsg`: `segments` datagrams to `to`, contiguous in the batch
/// buffer from `start`, all `segment` bytes long but the last (UDP GSO splits them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub to: SocketAddr,
    pub start: usize,
    pub len: usize,
    pub segment: usize,
    pub segments: usize,
}

impl Message {
    /// No further datagram can join (a short last segment ends a GSO train).
    fn closed(&self) -> bool {
        self.len < self.segment * self.segments
    }
}

#[derive(Default, Clone, Copy, Debug)]
pub struct SendStats {
    /// Datagrams the kernel took.
    pub datagrams: u64,
    /// `sendmmsg` calls (datagrams / calls is the batching achieved).
    pub calls: u64,
    /// Datagrams dropped: the socket buffer was full (EAGAIN) or the destination refused
    /// (ICMP errors). QUIC's loss recovery treats them as lost on the wire.
    pub dropped: u64,
}

/// Everything one poll sends, written by quiche straight into `buf` and handed to the kernel
/// in one `sendmmsg` (or a few, when it is larger than a batch).
pub struct SendBatch {
    buf: Vec<u8>,
    used: usize,
    msgs: Vec<Message>,
    c: SendStructs,
    /// Datagrams per GSO message; 1 when the kernel or the device does not do GSO.
    max_segments: usize,
    pub stats: SendStats,
}

/// What one `sendmmsg` did: how many messages were sent, or the errno of the first one.
pub type SendOutcome = Result<usize, i32>;

impl SendBatch {
    pub fn new(gso: bool) -> SendBatch {
        SendBatch {
            buf: vec![0; SEND_BUFFER],
            used: 0,
            msgs: Vec::with_capacity(SEND_BATCH),
            c: SendStructs::new(),
            max_segments: if gso { MAX_GSO_SEGMENTS } else { 1 },
            stats: SendStats::default(),
        }
    }

    pub fn gso(&self) -> bool {
        self.max_segments > 1
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// True when the next datagram might not fit: flush first.
    pub fn is_full(&self) -> bool {
        self.used + MAX_UDP_PAYLOAD > self.buf.len() || self.msgs.len() >= SEND_BATCH
    }

    /// Where quiche writes the next datagram (MAX_UDP_PAYLOAD bytes). Check `is_full` first.
    pub fn slot(&mut self) -> &mut [u8] {
        &mut self.buf[self.used..self.used + MAX_UDP_PAYLOAD]
    }

    /// The `len` bytes written into `slot()` go to `to`: they join the previous message as a
    /// GSO segment when it goes to the same address and its segments are that long.
    pub fn commit(&mut self, len: usize, to: SocketAddr) {
        let start = self.used;
        self.used += len;
        if let Some(last) = self.msgs.last_mut() {
            if last.to == to
                && last.start + last.len == start
                && !last.closed()
                && last.segments < self.max_segments
                && len <= last.segment
                && last.len + len <= MAX_GSO_BYTES
            {
                last.len += len;
                last.segments += 1;
                return;
            }
        }
        self.msgs.push(Message {
            to,
            start,
            len,
            segment: len,
            segments: 1,
        });
    }

    /// Sends the batch on `fd` and empties it.
    pub fn flush(&mut self, fd: RawFd) {
        let mut c = std::mem::replace(&mut self.c, SendStructs::empty());
        self.flush_with(|msgs, buf| sendmmsg(fd, msgs, buf, &mut c));
        self.c = c;
    }

    /// Sends the batch through `send` (one `sendmmsg`; tests pass a fake) and empties it.
    /// A partial send goes on with the rest; EAGAIN drops the rest (the socket buffer is
    /// full: waiting would hold the event loop, and QUIC takes them as lost); EIO or EINVAL on
    /// a GSO message turns GSO off for good and sends its segments one by one (a device
    /// without checksum offload refuses GSO with EIO); any other error drops that message only
    /// (an ICMP error of one peer, e.g. ECONNREFUSED).
    pub fn flush_with(&mut self, mut send: impl FnMut(&[Message], &[u8]) -> SendOutcome) {
        let mut i = 0;
        while i < self.msgs.len() {
            self.stats.calls += 1;
            match send(&self.msgs[i..], &self.buf) {
                Ok(n) if n > 0 => {
                    let n = n.min(self.msgs.len() - i);
                    self.stats.datagrams += self.msgs[i..i + n]
                        .iter()
                        .map(|m| m.segments as u64)
                        .sum::<u64>();
                    i += n;
                }
                Ok(_) => {
                    self.drop_message(i);
                    i += 1;
                }
                Err(libc::EINTR) => {}
                Err(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => {
                    while i < self.msgs.len() {
                        self.drop_message(i);
                        i += 1;
                    }
                }
                Err(libc::EIO | libc::EINVAL) if self.msgs[i].segments > 1 => {
                    self.max_segments = 1;
                    let rest: Vec<Message> = self.msgs.drain(i..).flat_map(split).collect();
                    self.msgs.extend(rest);
                }
                Err(_) => {
                    self.drop_message(i);
                    i += 1;
                }
            }
        }
        self.msgs.clear();
        self.used = 0;
    }

    fn drop_message(&mut self, i: usize) {
        self.stats.dropped += self.msgs[i].segments as u64;
    }
}

/// A GSO message as single datagrams (the fallback when GSO is refused).
fn split(m: Message) -> impl Iterator<Item = Message> {
    (0..m.segments).map(move |k| {
        let start = m.start + k * m.segment;
        let len = m.segment.min(m.start + m.len - start);
        Message {
            to: m.to,
            start,
            len,
            segment: len,
            segments: 1,
        }
    })
}

/// The C structures of one `sendmmsg`, kept between calls.
struct SendStructs {
    names: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    controls: Vec<Control>,
    hdrs: Vec<libc::mmsghdr>,
}

impl SendStructs {
    fn new() -> SendStructs {
        // SAFETY: all-zero C structs are valid values.
        SendStructs {
            names: vec![unsafe { zeroed() }; SEND_BATCH],
            iovecs: vec![unsafe { zeroed() }; SEND_BATCH],
            controls: vec![[0; 4]; SEND_BATCH],
            hdrs: vec![unsafe { zeroed() }; SEND_BATCH],
        }
    }

    fn empty() -> SendStructs {
        SendStructs {
            names: Vec::new(),
            iovecs: Vec::new(),
            controls: Vec::new(),
            hdrs: Vec::new(),
        }
    }
}

/// One `sendmmsg` of `msgs` (at most SEND_BATCH) from `buf`.
fn sendmmsg(fd: RawFd, msgs: &[Message], buf: &[u8], c: &mut SendStructs) -> SendOutcome {
    let count = msgs.len().min(SEND_BATCH);
    for (i, m) in msgs[..count].iter().enumerate() {
        let (name, name_len) = to_sockaddr(&m.to);
        c.names[i] = name;
        c.iovecs[i] = libc::iovec {
            iov_base: buf[m.start..m.start + m.len].as_ptr() as *mut libc::c_void,
            iov_len: m.len,
        };
        let hdr = &mut c.hdrs[i].msg_hdr;
        hdr.msg_name = (&mut c.names[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_namelen = name_len;
        hdr.msg_iov = &mut c.iovecs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_flags = 0;
        if m.segments > 1 {
            hdr.msg_control = c.controls[i].as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE/CMSG_LEN are pure; the control buffer (32 bytes) holds
            // CMSG_SPACE(2) = 24 bytes.
            unsafe {
                hdr.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
                let cmsg = libc::CMSG_FIRSTHDR(hdr);
                (*cmsg).cmsg_level = SOL_UDP;
                (*cmsg).cmsg_type = UDP_SEGMENT;
                (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut u16, m.segment as u16);
            }
        } else {
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
        }
    }
    // SAFETY: every pointer set above points into `buf` or `c`, which outlive the call; the
    // kernel only reads `buf`.
    let n = unsafe { libc::sendmmsg(fd, c.hdrs.as_mut_ptr(), count as libc::c_uint, 0) };
    if n < 0 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn push(batch: &mut SendBatch, bytes: &[u8], to: SocketAddr) {
        batch.slot()[..bytes.len()].copy_from_slice(bytes);
        batch.commit(bytes.len(), to);
    }

    /// What a fake kernel received: (destination, datagram) in order, GSO messages split.
    fn datagrams(msgs: &[Message], buf: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
        msgs.iter()
            .flat_map(|m| {
                buf[m.start..m.start + m.len]
                    .chunks(m.segment)
                    .map(move |d| (m.to, d.to_vec()))
            })
            .collect()
    }

    #[test]
    fn same_destination_same_size_becomes_one_gso_message() {
        let mut batch = SendBatch::new(true);
        push(&mut batch, &[1; 100], addr(1));
        push(&mut batch, &[2; 100], addr(1));
        push(&mut batch, &[3; 60], addr(1)); // a short one ends the train
        push(&mut batch, &[4; 60], addr(1));
        push(&mut batch, &[5; 100], addr(2));
        assert_eq!(batch.msgs.len(), 3);
        assert_eq!((batch.msgs[0].segments, batch.msgs[0].segment), (3, 100));
        assert_eq!(batch.msgs[1].segments, 1);
        assert_eq!(batch.msgs[2].to, addr(2));
    }

    #[test]
    fn without_gso_every_datagram_is_a_message() {
        let mut batch = SendBatch::new(false);
        push(&mut batch, &[1; 100], addr(1));
        push(&mut batch, &[2; 100], addr(1));
        assert_eq!(batch.msgs.len(), 2);
    }

    #[test]
    fn a_partial_send_goes_on_with_the_rest() {
        let mut batch = SendBatch::new(false);
        for i in 0..5u8 {
            push(&mut batch, &[i; 10], addr(1));
        }
        let mut seen = Vec::new();
        batch.flush_with(|msgs, buf| {
            // The kernel takes two messages per call.
            let n = msgs.len().min(2);
            seen.extend(datagrams(&msgs[..n], buf));
            Ok(n)
        });
        let payloads: Vec<u8> = seen.iter().map(|(_, d)| d[0]).collect();
        assert_eq!(payloads, vec![0, 1, 2, 3, 4]);
        assert_eq!(batch.stats.datagrams, 5);
        assert_eq!(batch.stats.calls, 3);
        assert!(batch.is_empty());
    }

    #[test]
    fn eagain_drops_the_rest_and_counts_it() {
        let mut batch = SendBatch::new(false);
        for i in 0..4u8 {
            push(&mut batch, &[i; 10], addr(1));
        }
        let mut calls = 0;
        batch.flush_with(|_, _| {
            calls += 1;
            if calls == 1 {
                Ok(1)
            } else {
                Err(libc::EAGAIN)
            }
        });
        assert_eq!(batch.stats.datagrams, 1);
        assert_eq!(batch.stats.dropped, 3);
        assert!(batch.is_empty());
        // The batch is usable again.
        push(&mut batch, &[9; 10], addr(1));
        assert_eq!(batch.msgs[0].start, 0);
    }

    #[test]
    fn gso_refused_with_eio_falls_back_to_single_datagrams() {
        for errno in [libc::EIO, libc::EINVAL] {
            let mut batch = SendBatch::new(true);
            push(&mut batch, &[1; 100], addr(1));
            push(&mut batch, &[2; 100], addr(1));
            push(&mut batch, &[3; 40], addr(1));
            push(&mut batch, &[4; 100], addr(2));
            let mut seen = Vec::new();
            batch.flush_with(|msgs, buf| {
                if msgs[0].segments > 1 {
                    return Err(errno);
                }
                seen.extend(datagrams(msgs, buf));
                Ok(msgs.len())
            });
            assert!(!batch.gso(), "GSO stays off after {errno}");
            let got: Vec<(SocketAddr, usize, u8)> =
                seen.iter().map(|(a, d)| (*a, d.len(), d[0])).collect();
            assert_eq!(
                got,
                vec![
                    (addr(1), 100, 1),
                    (addr(1), 100, 2),
                    (addr(1), 40, 3),
                    (addr(2), 100, 4)
                ]
            );
            assert_eq!(batch.stats.dropped, 0);
            push(&mut batch, &[1; 100], addr(1));
            push(&mut batch, &[2; 100], addr(1));
            assert_eq!(batch.msgs.len(), 2, "no GSO trains after the fallback");
        }
    }

    #[test]
    fn an_error_of_one_destination_skips_only_that_message() {
        let mut batch = SendBatch::new(false);
        push(&mut batch, &[1; 10], addr(1));
        push(&mut batch, &[2; 10], addr(2));
        push(&mut batch, &[3; 10], addr(3));
        let mut seen = Vec::new();
        batch.flush_with(|msgs, buf| {
            if msgs[0].to == addr(2) {
                return Err(libc::ECONNREFUSED);
            }
            // The kernel stops before a failing message and reports what it sent.
            let n = msgs.iter().take_while(|m| m.to != addr(2)).count();
            seen.extend(datagrams(&msgs[..n], buf));
            Ok(n)
        });
        let got: Vec<u8> = seen.iter().map(|(_, d)| d[0]).collect();
        assert_eq!(got, vec![1, 3]);
        assert_eq!(batch.stats.dropped, 1);
    }

    #[test]
    fn is_full_before_the_buffer_or_the_message_count_runs_out() {
        let mut batch = SendBatch::new(false);
        let mut n = 0;
        while !batch.is_full() {
            push(&mut batch, &[0; 20], addr(n as u16 + 1));
            n += 1;
        }
        assert_eq!(n, SEND_BATCH);
        let mut batch = SendBatch::new(true);
        while !batch.is_full() {
            push(&mut batch, &[0; MAX_UDP_PAYLOAD], addr(1));
        }
        assert!(batch.used + MAX_UDP_PAYLOAD > SEND_BUFFER);
        assert!(batch.msgs.iter().all(|m| m.len <= MAX_GSO_BYTES));
    }

    /// The real kernel path on loopback: sendmmsg (with GSO if the kernel has it) to two
    /// sockets, recvmmsg (with GRO if it has it) gives back every datagram intact.
    #[test]
    fn loopback_round_trip() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_gro(rx1.as_raw_fd());
        let mut batch = SendBatch::new(gso_supported(tx.as_raw_fd()));
        let to1 = rx1.local_addr().unwrap();
        let to2 = rx2.local_addr().unwrap();
        for i in 0..10u8 {
            push(&mut batch, &[i; 200], to1);
        }
        push(&mut batch, &[42; 50], to2);
        batch.flush(tx.as_raw_fd());
        assert_eq!(batch.stats.datagrams, 11);
        assert_eq!(batch.stats.dropped, 0);

        let mut recv = RecvBatch::new();
        let mut got = Vec::new();
        while got.len() < 10 {
            rx1.set_nonblocking(false).unwrap();
            // Block for the first one, then read the rest batched.
            let mut probe = [0u8; 1];
            let _ = rx1.peek(&mut probe);
            rx1.set_nonblocking(true).unwrap();
            if recv.recv(rx1.as_raw_fd()).is_ok() {
                recv.for_each(|d, from| got.push((from, d.to_vec())));
            }
        }
        let from = tx.local_addr().unwrap();
        for (i, (sender, d)) in got.iter().enumerate() {
            assert_eq!(*sender, from);
            assert_eq!(d, &vec![i as u8; 200]);
        }
        let mut buf = [0u8; 100];
        let (n, _) = rx2.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[42; 50]);
    }
}
