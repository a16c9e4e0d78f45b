// lk-load: the LiveKit side of `npm run bench -- --peer livekit`. One process joins every
// peer of the run to a LiveKit server (server-sdk-go, audio only), then, driven by JSON lines
// on stdin from bench/livekitSide.ts, runs measurement windows exactly as grid's load workers
// do (bench/worker.ts): the speakers of the active rooms send a 20 ms Opus frame 50 times a
// second, each stamped with its send time (CLOCK_MONOTONIC µs, the clock bench/clock.ts
// reads), and every subscriber counts what arrives and how late, into the same log-linear
// histogram as bench/stats.ts. One JSON line answers each command on stdout.
//
// The stamp is the first 16 bytes of the Opus payload (bench/voicePayload.ts):
//
//	[0..8)   send time, µs of CLOCK_MONOTONIC, as two big-endian u32
//	[8..12)  sender number (unique in the run)
//	[12..16) sequence number of the sender
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"golang.org/x/sys/unix"
)

const stampBytes = 16

// monotonicMicros is CLOCK_MONOTONIC in µs, system-wide like process.hrtime in Node.
func monotonicMicros() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Sec*1_000_000 + ts.Nsec/1_000
}

type peer struct {
	index   int
	roomIdx int
	speaker bool
	room    *lksdk.Room
	track   *webrtc.TrackLocalStaticSample
	frame   []byte
	seq     uint32
}

// Counters shared by the subscriber goroutines.
var (
	collecting     atomic.Bool
	windowStart    atomic.Int64
	windowEnd      atomic.Int64
	receivedTotal  atomic.Int64
	receivedWindow atomic.Int64
	subscribed     atomic.Int64
	redTracks      atomic.Int64
	latencyMu      sync.Mutex
	latency        = newHistogram()
	out            = json.NewEncoder(os.Stdout)
	outMu          sync.Mutex
)

func send(v any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(v)
}

func onPacket(payload []byte) {
	receivedTotal.Add(1)
	if !collecting.Load() || len(payload) < stampBytes {
		return
	}
	sentAt := int64(binary.BigEndian.Uint32(payload[0:4]))<<32 | int64(binary.BigEndian.Uint32(payload[4:8]))
	if sentAt < windowStart.Load() || sentAt >= windowEnd.Load() {
		return
	}
	receivedWindow.Add(1)
	now := monotonicMicros()
	latencyMu.Lock()
	latency.record(now - sentAt)
	latencyMu.Unlock()
}

// redPrimary returns the primary (last) block of an RFC 2198 RED payload, as LiveKit sends
// Opus to subscribers that negotiated audio/red.
func redPrimary(p []byte) []byte {
	offset := 0
	total := 0
	for offset < len(p) && p[offset]&0x80 != 0 {
		if offset+4 > len(p) {
			return nil
		}
		total += int(binary.BigEndian.Uint16(p[offset+2:offset+4]) & 0x03ff)
		offset += 4
	}
	offset++ // the last header: F=0, block PT only
	if offset+total > len(p) {
		return nil
	}
	return p[offset+total:]
}

func readTrack(track *webrtc.TrackRemote) {
	red := track.Codec().MimeType == "audio/red"
	if red {
		redTracks.Add(1)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		// RTP header (RFC 3550 §5.1): 12 bytes + CSRCs + extension.
		p := buf[:n]
		if len(p) < 12 {
			continue
		}
		head := 12 + 4*int(p[0]&0x0f)
		if p[0]&0x10 != 0 {
			if len(p) < head+4 {
				continue
			}
			head += 4 + 4*int(binary.BigEndian.Uint16(p[head+2:head+4]))
		}
		if head > len(p) {
			continue
		}
		payload := p[head:]
		if p[0]&0x20 != 0 && len(payload) > 0 { // padding
			pad := int(payload[len(payload)-1])
			if pad > len(payload) {
				continue
			}
			payload = payload[:len(payload)-pad]
		}
		if red {
			payload = redPrimary(payload)
		}
		onPacket(payload)
	}
}

type joined struct {
	Kind       string    `json:"kind"`
	ConnectMs  []float64 `json:"connectMs"`
	Failures   []string  `json:"failures"`
	Subscribed int64     `json:"subscribed"`
	Expected   int64     `json:"expectedSubscriptions"`
	// Subscriptions LiveKit sent as audio/red (RFC 2198) rather than plain audio/opus.
	RedTracks int64 `json:"redTracks"`
}

type runCommand struct {
	Kind        string `json:"kind"`
	StartAt     int64  `json:"startAt"`
	WindowStart int64  `json:"windowStart"`
	WindowEnd   int64  `json:"windowEnd"`
	CollectAt   int64  `json:"collectAt"`
	ActiveRooms []int  `json:"activeRooms"`
	Rate        int    `json:"rate"`
}

type result struct {
	Kind     string        `json:"kind"`
	Sent     int64         `json:"sent"`
	Expected int64         `json:"expected"`
	Received int64         `json:"received"`
	Skipped  int64         `json:"skipped"`
	Refused  int64         `json:"refused"`
	Latency  histogramData `json:"latency"`
	CPU      float64       `json:"cpu"`
	GcMaxMs  float64       `json:"gcMaxMs"`
}

func cpuSeconds() float64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func sleepUntil(at int64) {
	if d := at - monotonicMicros(); d > 0 {
		time.Sleep(time.Duration(d) * time.Microsecond)
	}
}

func run(cmd runCommand, peers []*peer, roomSize map[int]int) result {
	active := map[int]bool{}
	for _, r := range cmd.ActiveRooms {
		active[r] = true
	}
	var speakers []*peer
	for _, p := range peers {
		if p.speaker && p.track != nil && active[p.roomIdx] {
			speakers = append(speakers, p)
		}
	}
	frameUs := 1e6 / float64(cmd.Rate)
	slots := int(frameUs / 1000)
	if slots < 1 {
		slots = 1
	}
	if slots > 20 {
		slots = 20
	}
	slotUs := frameUs / float64(slots)
	bySlot := make([][]*peer, slots)
	for i, s := range speakers {
		k := i * slots / len(speakers)
		bySlot[k] = append(bySlot[k], s)
	}
	windowStart.Store(cmd.WindowStart)
	windowEnd.Store(cmd.WindowEnd)
	receivedWindow.Store(0)
	latencyMu.Lock()
	latency.reset()
	latencyMu.Unlock()
	collecting.Store(true)
	var sent, expected, skipped, refused int64
	var cpuFrom, cpuFromAt float64 = -1, 0
	cpu := 0.0
	duration := time.Duration(1e6/cmd.Rate) * time.Microsecond
	nextSlot := int64(0)
	sleepUntil(cmd.StartAt)
	for {
		now := monotonicMicros()
		if cpuFrom < 0 && now >= cmd.WindowStart {
			cpuFrom, cpuFromAt = cpuSeconds(), float64(now)
		}
		if now >= cmd.WindowEnd {
			if cpuFrom >= 0 {
				cpu = (cpuSeconds() - cpuFrom) / (float64(now) - cpuFromAt) * 1e6
			}
			break
		}
		dueSlot := int64(float64(now-cmd.StartAt) / slotUs)
		// More than two frames behind: skip the backlog (counted) rather than burst it out.
		if dueSlot-nextSlot > int64(2*slots) {
			for s := nextSlot; s < dueSlot-int64(2*slots); s++ {
				skipped += int64(len(bySlot[s%int64(slots)]))
			}
			nextSlot = dueSlot - int64(2*slots)
		}
		for ; nextSlot <= dueSlot; nextSlot++ {
			for _, s := range bySlot[nextSlot%int64(slots)] {
				at := monotonicMicros()
				binary.BigEndian.PutUint32(s.frame[0:4], uint32(at>>32))
				binary.BigEndian.PutUint32(s.frame[4:8], uint32(at))
				binary.BigEndian.PutUint32(s.frame[12:16], s.seq)
				s.seq++
				if err := s.track.WriteSample(media.Sample{Data: s.frame, Duration: duration}); err != nil {
					refused++
				}
				if at >= cmd.WindowStart && at < cmd.WindowEnd {
					sent++
					expected += int64(roomSize[s.roomIdx] - 1)
				}
			}
		}
		sleepUntil(cmd.StartAt + int64(float64(nextSlot)*slotUs))
	}
	sleepUntil(cmd.CollectAt)
	collecting.Store(false)
	latencyMu.Lock()
	data := latency.data()
	latencyMu.Unlock()
	return result{
		Kind: "result", Sent: sent, Expected: expected, Received: receivedWindow.Load(),
		Skipped: skipped, Refused: refused, Latency: data, CPU: cpu,
	}
}

func main() {
	url := flag.String("url", "ws://127.0.0.1:7880", "LiveKit server URL")
	apiKey := flag.String("api-key", "devkey", "API key (--dev: devkey)")
	apiSecret := flag.String("api-secret", "secret", "API secret (--dev: secret)")
	rooms := flag.Int("rooms", 1, "rooms")
	peersPerRoom := flag.Int("peers", 5, "peers per room")
	speakers := flag.Int("speakers", 2, "speakers per room (the first peers)")
	payload := flag.Int("payload", 60, "Opus payload bytes per packet (>= 16)")
	joinRate := flag.Float64("join-rate", 20, "joins started per second")
	prefix := flag.String("room-prefix", "bench", "room name prefix")
	flag.Parse()
	if *payload < stampBytes {
		fmt.Fprintf(os.Stderr, "lk-load: --payload must be >= %d\n", stampBytes)
		os.Exit(2)
	}
	lksdk.SetLogger(protoLogger.GetDiscardLogger())

	var peers []*peer
	var mu sync.Mutex
	var failures []string
	var connectMs []float64
	roomSize := map[int]int{}
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / *joinRate)
	for r := 0; r < *rooms; r++ {
		for i := 0; i < *peersPerRoom; i++ {
			p := &peer{index: r**peersPerRoom + i, roomIdx: r, speaker: i < *speakers}
			wg.Add(1)
			go func() {
				defer wg.Done()
				identity := fmt.Sprintf("bench-%d-%d", p.roomIdx, p.index)
				started := time.Now()
				cb := &lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
					OnTrackSubscribed: func(t *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
						subscribed.Add(1)
						go readTrack(t)
					},
				}}
				room, err := lksdk.ConnectToRoom(*url, lksdk.ConnectInfo{
					APIKey: *apiKey, APISecret: *apiSecret,
					RoomName: fmt.Sprintf("%s-%d", *prefix, p.roomIdx), ParticipantIdentity: identity,
				}, cb, lksdk.WithAutoSubscribe(true))
				if err == nil && p.speaker {
					p.frame = make([]byte, *payload)
					binary.BigEndian.PutUint32(p.frame[8:12], uint32(p.index))
					p.track, err = webrtc.NewTrackLocalStaticSample(
						webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
						"voice", identity)
					if err == nil {
						_, err = room.LocalParticipant.PublishTrack(p.track, &lksdk.TrackPublicationOptions{
							Name: "voice", Source: livekit.TrackSource_MICROPHONE,
						})
					}
				}
				ms := float64(time.Since(started).Microseconds()) / 1000
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s: %v", identity, err))
					if room != nil {
						room.Disconnect()
					}
					return
				}
				p.room = room
				peers = append(peers, p)
				roomSize[p.roomIdx]++
				connectMs = append(connectMs, ms)
			}()
			time.Sleep(interval)
		}
	}
	wg.Wait()
	// Every receiver subscribes to every speaker of its room (auto-subscribe): wait for that.
	var want int64
	spk := map[int]int{}
	for _, p := range peers {
		if p.speaker && p.track != nil {
			spk[p.roomIdx]++
		}
	}
	for r, n := range roomSize {
		want += int64(spk[r] * (n - 1))
	}
	deadline := time.Now().Add(60 * time.Second)
	for subscribed.Load() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	send(joined{Kind: "joined", ConnectMs: connectMs, Failures: failures, Subscribed: subscribed.Load(), Expected: want, RedTracks: redTracks.Load()})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var cmd runCommand
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintf(os.Stderr, "lk-load: bad command %q: %v\n", in.Text(), err)
			os.Exit(2)
		}
		switch cmd.Kind {
		case "run":
			send(run(cmd, peers, roomSize))
		case "close":
			closeAll(peers)
			send(map[string]string{"kind": "closed"})
			return
		default:
			fmt.Fprintf(os.Stderr, "lk-load: unknown command %q\n", cmd.Kind)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(os.Stderr, "lk-load: stdin: %v\n", err)
	}
	closeAll(peers)
}

func closeAll(peers []*peer) {
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); p.room.Disconnect() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}
