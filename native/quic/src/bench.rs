//! The server's voice path alone, without JavaScript and without the Node load generator:
//! `npm run bench:native-server` (cargo test --release -- --ignored bench::server).
//!
//! The test process is the server: one `Endpoint` driven by the loop the JavaScript side runs
//! (wait for the socket, `poll()`, timers), on one thread pinned to CPU 0. It starts itself
//! again as the client process (`bench::clients`, pinned to CPU 1): quiche client connections
//! on one UDP socket with the batched I/O of io.rs, in rooms of PEERS_PER_ROOM with SPEAKERS
//! speakers who send a voice datagram every 20 ms (or BENCH_RATE per second). The server's
//! forwarding table holds what the core would push for those rooms. Measured on the server:
//! forwarded datagrams per second of its thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so the
//! number does not depend on how busy the machine is; memory per idle connection (RSS and
//! malloc's in-use bytes before and after the connections, clients being another process);
//! and by the clients, the end-to-end latency of every forwarded datagram (one clock: sender
//! and receivers are in the client process).
//!
//! Settings (environment): BENCH_PEERS (400), BENCH_PEERS_PER_ROOM (10), BENCH_SPEAKERS (2),
//! BENCH_RATE (datagrams/s per speaker, 50), BENCH_SECONDS (10), BENCH_ACK_DELAY_MS (the
//! endpoint's delayed ACK, 20; 0 acknowledges in the same flush).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{self, EndpointOptions, ReceiveWindows};
use crate::endpoint::{Endpoint, CONNECTION_ID_LENGTH, MAX_UDP_PAYLOAD};
use crate::events::EventKind;
use crate::io::{RecvBatch, SendBatch};
use crate::test_cert::self_signed;

const ALPN: &str = "odin-bench";
const MEDIA: u16 = 7;
/// The quarter stream id of every bench session (RFC 9297 section 2.1): varint 0.
const PREFIX: [u8; 1] = [0];
const OPUS_BYTES: usize = 60;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// 4 MB socket buffers, what the server asks for (lib.rs).
fn socket_buffers(fd: i32) {
    for option in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        let bytes: libc::c_int = 4 * 1024 * 1024;
        // SAFETY: fd is our socket; bytes lives for the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&bytes as *const libc::c_int).cast(),
                4,
            )
        };
    }
}

fn thread_cpu() -> Duration {
    // SAFETY: ts lives for the call.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 only reads malloc's counters.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

/// What nativeEndpoint.ts passes by default (SERVER_RECEIVE_WINDOWS of quiche.ts).
fn server_options(cert: String, key: String) -> EndpointOptions {
    EndpointOptions {
        host: "127.0.0.1".into(),
        port: 0,
        certificate_pem: cert,
        private_key_pem: key,
        alpn: vec![ALPN.into()],
        idle_timeout_ms: 30_000,
        migration: true,
        keep_alive_ms: 0,
        pre_send_timeout_ms: None,
        datagram_recv_queue: 1024,
        datagram_send_queue: 1024,
        windows: ReceiveWindows {
            connection: 256 * 1024,
            bidi_remote: 128 * 1024,
            bidi_local: 0,
            uni: 16 * 1024,
            max_stream: 256 * 1024,
            max_connection: 512 * 1024,
        },
        socket_buffer_bytes: None,
    }
}

/// `[1, [MEDIA], seq, ts, 0, bin8(opus)]`: a voice packet readVoiceHeader accepts, the opus
/// bytes starting with the send time (ns since `epoch`) for the latency.
fn voice_packet(seq: u8, sent_ns: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&PREFIX);
    out.extend_from_slice(&[0x96, 1, 0x91, MEDIA as u8, seq & 0x7f, 2, 0, 0xc4]);
    out.push(OPUS_BYTES as u8);
    out.extend_from_slice(&sent_ns.to_be_bytes());
    out.resize(out.len() + OPUS_BYTES - 8, 0xab);
}

fn sent_ns_of(datagram: &[u8]) -> Option<u64> {
    let at = PREFIX.len() + 9;
    Some(u64::from_be_bytes(
        datagram.get(at..at + 8)?.try_into().ok()?,
    ))
}

#[test]
#[ignore = "a benchmark: npm run bench:native-server"]
fn server() {
    let peers = env("BENCH_PEERS", 400) as usize;
    let per_room = env("BENCH_PEERS_PER_ROOM", 10) as usize;
    let speakers = env("BENCH_SPEAKERS", 2) as usize;
    pin_to_cpu(0);
    let (cert, key) = self_signed();
    let options = server_options(cert, key);
    let config = config::build(&options).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let fd = socket.as_raw_fd();
    socket_buffers(fd);
    let mut endpoint = Endpoint::new(socket, config, true, 0, 0).unwrap();
    if let Ok(ms) = std::env::var("BENCH_ACK_DELAY_MS") {
        let ms: u64 = ms.parse().unwrap();
        endpoint.ack_delay = (ms > 0).then(|| Duration::from_millis(ms));
    }
    let address = endpoint.local;

    let rss_before = rss_bytes();
    let heap_before = heap_bytes();
    let mut clients = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "bench::clients",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BENCH_SERVER", address.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let mut established: Vec<u32> = Vec::new();
    let mut next_scid: u64 = 1;
    let mut start: Option<(Instant, Duration, crate::endpoint::Stats, u64, u64, u64)> = None;
    let mut idle_memory = None;
    let mut accept_heap: u64 = 0;
    loop {
        // Rounded up as nativeEndpoint.ts does (Math.ceil): rounding down busy-waits.
        let timeout = endpoint
            .next_timeout(Instant::now())
            .map_or(50, |d| d.as_micros().div_ceil(1000).min(50) as i32);
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd lives for the call.
        unsafe { libc::poll(&mut pfd, 1, timeout) };
        endpoint.poll();
        for event in std::mem::take(&mut endpoint.events) {
            match event.kind {
                EventKind::Unknown => {
                    let (Some(bytes), Some(from)) = (event.data, event.peer) else {
                        continue;
                    };
                    let mut packet = bytes.clone();
                    let Ok(header) = quiche::Header::from_slice(&mut packet, CONNECTION_ID_LENGTH)
                    else {
                        continue;
                    };
                    if header.ty != quiche::Type::Initial {
                        continue;
                    }
                    // The second datagram of a ClientHello too big for one (the ML-KEM key
                    // share), read in the same batch as the first: what nativeEndpoint.ts does.
                    if endpoint.redeliver(&bytes, from) {
                        continue;
                    }
                    let mut scid = [0u8; CONNECTION_ID_LENGTH];
                    scid[..8].copy_from_slice(&next_scid.to_be_bytes());
                    next_scid += 1;
                    let dcid = header.dcid.to_vec();
                    let before = heap_bytes();
                    let _ = endpoint.accept(&scid, None, Some(&dcid), None, from, &bytes);
                    accept_heap += heap_bytes().saturating_sub(before);
                }
                EventKind::Established => {
                    established.push(event.conn);
                    if established.len() == peers {
                        // What nativeVoice.ts pushes for these rooms: each speaker's media goes
                        // to the other peers of its room, nothing to JavaScript.
                        let now = Instant::now();
                        for &id in &established {
                            endpoint.conn(id).unwrap().session_prefix = Some(PREFIX.to_vec());
                        }
                        for room in established.chunks(per_room) {
                            for &speaker in &room[..speakers.min(room.len())] {
                                let receivers =
                                    room.iter().copied().filter(|&r| r != speaker).collect();
                                endpoint
                                    .table
                                    .set(speaker, MEDIA, receivers, false, None, now);
                            }
                        }
                        // Let the handshakes' last packets settle before measuring memory.
                        idle_memory = Some(now + Duration::from_millis(200));
                    }
                }
                _ => {}
            }
        }
        endpoint.flush();
        if let Some(at) = idle_memory {
            if Instant::now() >= at {
                idle_memory = None;
                let rss = rss_bytes().saturating_sub(rss_before) as f64 / peers as f64;
                let heap = heap_bytes().saturating_sub(heap_before) as f64 / peers as f64;
                println!(
                    "idle connections: {peers}; per connection: RSS {:.1} KB, malloc in use {:.1} KB \
                     (of which the quiche::Connection struct {:.1} KB)",
                    rss / 1024.0,
                    heap / 1024.0,
                    std::mem::size_of::<quiche::Connection>() as f64 / 1024.0
                );
                println!(
                    "  malloc in use after accept (the first Initial processed): {:.1} KB per connection",
                    accept_heap as f64 / peers as f64 / 1024.0
                );
                start = Some((
                    Instant::now(),
                    thread_cpu(),
                    endpoint.stats,
                    endpoint.table.stats.forwarded,
                    endpoint.tx.stats.calls,
                    endpoint.table.stats.dropped,
                ));
            }
        }
        if let Ok(Some(status)) = clients.try_wait() {
            assert!(status.success(), "the client process failed");
            break;
        }
    }
    let (t0, cpu0, s0, fwd0, calls0, dropped0) = start.expect("all connections established");
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    let forwarded = endpoint.table.stats.forwarded - fwd0;
    let packets_in = endpoint.stats.packets_in - s0.packets_in;
    let packets_out = endpoint.stats.packets_out - s0.packets_out;
    let calls = endpoint.tx.stats.calls - calls0;
    println!(
        "server: {forwarded} datagrams forwarded in {wall:.1} s wall, {cpu:.2} s CPU of its thread \
         = {:.0} forwarded/s of wall, {:.0} per CPU-second",
        forwarded as f64 / wall,
        forwarded as f64 / cpu
    );
    println!(
        "server: UDP in {packets_in}, out {packets_out} ({:.2} forwarded datagrams per packet out), \
         {calls} sendmmsg ({:.1} packets per call), GSO {}, acks delayed {}, table drops {}, \
         send drops {}; {} polls, {} timers fired",
        forwarded as f64 / packets_out.max(1) as f64,
        packets_out as f64 / calls.max(1) as f64,
        endpoint.tx.gso(),
        endpoint.stats.acks_delayed - s0.acks_delayed,
        endpoint.table.stats.dropped - dropped0,
        endpoint.tx.stats.dropped,
        endpoint.stats.polls - s0.polls,
        endpoint.stats.timers_fired - s0.timers_fired,
    );
    let mut report = String::new();
    use std::io::Read;
    clients
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    for line in report
        .lines()
        .filter_map(|l| l.find("clients:").map(|at| &l[at..]))
    {
        println!("{line}");
    }
}

struct Client {
    q: quiche::Connection,
    touched: bool,
}

/// What one pass of the client loop reads and writes: the connections on the shared socket,
/// its batches, and what the datagrams received measured.
struct Clients {
    conns: Vec<Client>,
    rx: RecvBatch,
    tx: SendBatch,
    latencies: Vec<u32>,
    received: u64,
}

#[test]
#[ignore = "started by bench::server"]
fn clients() {
    let Ok(server) = std::env::var("BENCH_SERVER") else {
        return;
    };
    let server: SocketAddr = server.parse().unwrap();
    let peers = env("BENCH_PEERS", 400) as usize;
    let per_room = env("BENCH_PEERS_PER_ROOM", 10) as usize;
    let speakers = env("BENCH_SPEAKERS", 2) as usize;
    let rate = env("BENCH_RATE", 50).max(1);
    let seconds = env("BENCH_SECONDS", 10);
    pin_to_cpu(1);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let fd = socket.as_raw_fd();
    socket_buffers(fd);
    let local = socket.local_addr().unwrap();
    let mut config = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
    config.set_application_protos(&[ALPN.as_bytes()]).unwrap();
    config.verify_peer(false);
    config.set_max_idle_timeout(30_000);
    config.set_max_recv_udp_payload_size(MAX_UDP_PAYLOAD);
    config.set_max_send_udp_payload_size(MAX_UDP_PAYLOAD);
    config.set_initial_max_data(1 << 20);
    config.set_initial_max_stream_data_bidi_local(1 << 16);
    config.set_initial_max_streams_bidi(4);
    config.enable_dgram(true, 4096, 1024);
    config.grease(false);

    let mut clients = Clients {
        conns: Vec::with_capacity(peers),
        rx: RecvBatch::new(),
        tx: SendBatch::new(crate::io::gso_supported(fd)),
        latencies: Vec::with_capacity(1 << 20),
        received: 0,
    };
    // Our connection ids start with the client's index: the server's packets are demultiplexed
    // by it (all clients share one socket).
    let scid_of = |i: usize| {
        let mut scid = [0x5au8; CONNECTION_ID_LENGTH];
        scid[..4].copy_from_slice(&(i as u32).to_be_bytes());
        scid
    };
    let epoch = Instant::now();

    // One pass of the client loop: read everything, feed the connections, collect datagrams,
    // send what every touched connection has (its ACKs batched over the read).
    let pump = |clients: &mut Clients, wait_ms: i32| {
        let Clients {
            conns,
            rx,
            tx,
            latencies,
            received,
        } = clients;
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd lives for the call.
        unsafe { libc::poll(&mut pfd, 1, wait_ms) };
        while rx.recv(fd).is_ok() {
            rx.for_each(|packet, from| {
                let index = if packet[0] & 0x80 == 0 {
                    u32::from_be_bytes(packet[1..5].try_into().unwrap()) as usize
                } else {
                    match quiche::Header::from_slice(packet, CONNECTION_ID_LENGTH) {
                        Ok(h) if h.dcid.len() >= 4 => {
                            u32::from_be_bytes(h.dcid[..4].try_into().unwrap()) as usize
                        }
                        Ok(_) => usize::MAX,
                        Err(_) => usize::MAX,
                    }
                };
                if let Some(c) = conns.get_mut(index) {
                    let _ = c.q.recv(packet, quiche::RecvInfo { from, to: local });
                    c.touched = true;
                }
            });
        }
        let mut buf = [0u8; 2048];
        let now = Instant::now();
        for c in conns.iter_mut() {
            if c.q.timeout_instant().is_some_and(|t| t <= now) {
                c.q.on_timeout();
                c.touched = true;
            }
            if !c.touched {
                continue;
            }
            c.touched = false;
            while let Ok(n) = c.q.dgram_recv(&mut buf) {
                *received += 1;
                if let Some(sent) = sent_ns_of(&buf[..n]) {
                    let now_ns = epoch.elapsed().as_nanos() as u64;
                    latencies.push((now_ns.saturating_sub(sent) / 1000) as u32);
                }
            }
            loop {
                if tx.is_full() {
                    tx.flush(fd);
                }
                match c.q.send(tx.slot()) {
                    Ok((len, info)) => tx.commit(len, info.to),
                    Err(_) => break,
                }
            }
        }
        tx.flush(fd);
    };
    let pump_for = |clients: &mut Clients, duration: Duration| {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            pump(clients, 5);
        }
    };

    // Connections one after another, so the server sees them in index order (its rooms).
    for i in 0..peers {
        let scid = scid_of(i);
        let q = quiche::connect(
            None,
            &quiche::ConnectionId::from_ref(&scid),
            local,
            server,
            &mut config,
        )
        .unwrap();
        clients.conns.push(Client { q, touched: true });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !clients.conns[i].q.is_established() {
            assert!(Instant::now() < deadline, "client {i} did not connect");
            clients.conns[i].touched = true;
            pump(&mut clients, 5);
        }
    }
    // The server sets its table once all are in, then waits 200 ms for memory: stay quiet.
    pump_for(&mut clients, Duration::from_millis(500));
    clients.latencies.clear();
    clients.received = 0;

    let talkers: Vec<usize> = (0..peers).filter(|i| i % per_room < speakers).collect();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    // Speakers are spread over the interval, as independent clients would be.
    let mut next: Vec<Instant> = (0..talkers.len())
        .map(|k| start + interval.mul_f64(k as f64 / talkers.len() as f64))
        .collect();
    let mut sent: u64 = 0;
    let mut skipped: u64 = 0;
    let mut packet = Vec::with_capacity(128);
    let mut seq: u8 = 0;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        for (k, &i) in talkers.iter().enumerate() {
            if next[k] > now {
                continue;
            }
            next[k] += interval;
            // A client that fell more than an interval behind skips, as a real one would.
            while next[k] + interval < now {
                next[k] += interval;
                skipped += 1;
            }
            seq = seq.wrapping_add(1);
            voice_packet(seq, epoch.elapsed().as_nanos() as u64, &mut packet);
            if clients.conns[i].q.dgram_send(&packet).is_ok() {
                sent += 1;
                clients.conns[i].touched = true;
            }
        }
        let wait = next.iter().min().map_or(1, |t| {
            t.saturating_duration_since(Instant::now()).as_millis() as i32
        });
        pump(&mut clients, wait.min(1));
    }
    pump_for(&mut clients, Duration::from_millis(300));
    let Clients {
        mut latencies,
        received,
        ..
    } = clients;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |&us| us as f64 / 1000.0)
    };
    let expected = sent * (per_room as u64 - 1);
    println!(
        "clients: {} peers, {} speakers at {rate}/s for {seconds} s: sent {sent} (skipped {skipped}), \
         received {received} of {expected} ({:.2} % lost); latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        peers,
        talkers.len(),
        100.0 * (expected.saturating_sub(received)) as f64 / expected.max(1) as f64,
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
}
