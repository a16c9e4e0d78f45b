// An independent ODIN client for the interop test (e2e/interop/webtransportGo.test.ts), written
// against docs/protocol.md with webtransport-go v0.13.0 (draft-ietf-webtrans-http3-15/16, on
// quic-go, which requires the QUIC reset_stream_at extension of the server).
//
//	webtransport-go-probe URL                    dial only: prints `OK <status>` when the session
//	                                             opened (then closes it), or `DIAL-ERROR <error>`
//	                                             (exit 3)
//	webtransport-go-probe URL ROOM TOKEN COUNT   join: progress and result as JSON lines, like
//	                                             e2e/interop/aioquic_client.py
//
// Joining opens the session (granting the server 4 streams and 256 bytes of stream data at a
// time), joins and leaves the room 20 times, each on a new room stream (more than the server's
// first grant of 16 streams, so it must raise WT_MAX_STREAMS), then joins: JoinRoom {token} on
// the main stream, a room stream bound by the stream id, StartMedia, and says `ready`. Once the
// test writes `go` on stdin it sends COUNT voice datagrams and waits for COUNT from the other
// peer (reporting each as `heard`, 20 s at most), then closes the session (WT_CLOSE_SESSION, which resets its
// streams with RESET_STREAM_AT) and says `done`. The dev certificate of a test grid is not
// verified.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
	"github.com/quic-go/webtransport-go"
	"github.com/vmihailenco/msgpack/v5"
)

// Room streams opened and finished before the final join: with the main stream more than the 16
// bidirectional streams the server grants at first (WT_INITIAL_MAX_STREAMS_BIDI).
const rejoins = 20

func emit(event string, fields map[string]any) {
	line := map[string]any{"event": event}
	for k, v := range fields {
		line[k] = v
	}
	out, _ := json.Marshal(line)
	fmt.Println(string(out))
}

func fail(err error) {
	emit("error", map[string]any{"message": err.Error()})
	os.Exit(1)
}

// What the join client grants the server per session (session flow control, current draft
// section 5), small enough that the server's notifications exhaust the data window and must wait
// for webtransport-go's WT_MAX_DATA, as aioquic_client.py does.
var grant = &webtransport.Config{MaxIncomingStreams: 4, MaxIncomingUniStreams: 4, MaxIncomingData: 256}

func transport(config *webtransport.Config) *webtransport.Transport {
	return &webtransport.Transport{
		Config:          config,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}},
		// Both are what webtransport-go requires of its own side (client_conn.go). The generous
		// handshake timeout is for loaded test machines.
		QUICConfig: &quic.Config{
			EnableDatagrams:                  true,
			EnableStreamResetPartialDelivery: true,
			HandshakeIdleTimeout:             20 * time.Second,
		},
	}
}

func main() {
	switch len(os.Args) {
	case 2:
		dialOnly(os.Args[1])
	case 5:
		count, err := strconv.Atoi(os.Args[4])
		if err != nil {
			fail(err)
		}
		if err := join(os.Args[1], os.Args[2], os.Args[3], count); err != nil {
			fail(err)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: webtransport-go-probe https://HOST:PORT/main [ROOM TOKEN COUNT]")
		os.Exit(2)
	}
}

func dialOnly(url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	response, session, err := transport(nil).Dial(ctx, url, nil)
	if err != nil {
		fmt.Printf("DIAL-ERROR %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("OK %d\n", response.StatusCode)
	_ = session.CloseWithError(0, "done")
}

// pack is MessagePack with every integer in its shortest form, as rmp and @msgpack/msgpack write
// them. (vmihailenco/msgpack writes Go ints as int64 by default, which is legal MessagePack and
// which the server accepts too; the shortest form keeps each datagram small.)
func pack(message any) []byte {
	var out bytes.Buffer
	encoder := msgpack.NewEncoder(&out)
	encoder.UseCompactInts(true)
	if err := encoder.Encode(message); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// frame is docs/protocol.md "Streams and framing": a QUIC varint length, then MessagePack.
func frame(message any) []byte {
	body := pack(message)
	return append(quicvarint.Append(nil, uint64(len(body))), body...)
}

// client holds what the stream readers found: answers by message id and the first Joined update.
type client struct {
	mu      sync.Mutex
	answers map[int64]chan []any
	joined  chan map[string]any
	nextID  int64
}

// read dispatches the messages of one stream until it ends, then closes `ended` (if any).
func (c *client) read(stream io.Reader, ended chan struct{}) {
	if ended != nil {
		defer close(ended)
	}
	r := bufio.NewReader(stream)
	for {
		length, err := quicvarint.Read(r)
		if err != nil {
			return
		}
		if length > 1<<20 {
			return
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var message []any
		if err := msgpack.Unmarshal(body, &message); err != nil || len(message) < 2 {
			continue
		}
		c.dispatch(message)
	}
}

func asInt(v any) int64 {
	switch n := v.(type) {
	case int8:
		return int64(n)
	case int16:
		return int64(n)
	case int32:
		return int64(n)
	case int64:
		return n
	case uint8:
		return int64(n)
	case uint16:
		return int64(n)
	case uint32:
		return int64(n)
	case uint64:
		return int64(n)
	}
	return -1
}

func (c *client) dispatch(message []any) {
	switch asInt(message[0]) {
	case 1: // [1, msgid, error, result]
		c.mu.Lock()
		waiter := c.answers[asInt(message[1])]
		delete(c.answers, asInt(message[1]))
		c.mu.Unlock()
		if waiter != nil {
			waiter <- message
		}
	case 2: // [2, name, params]
		if name, _ := message[1].(string); name != "RoomUpdated" || len(message) < 3 {
			return
		}
		params, _ := message[2].(map[string]any)
		updates, _ := params["updates"].([]any)
		for _, u := range updates {
			update, _ := u.(map[string]any)
			if kind, _ := update["kind"].(string); kind == "Joined" {
				select {
				case c.joined <- update:
				default:
				}
			}
		}
	}
}

func (c *client) request(stream io.Writer, method string, params map[string]any) (any, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	waiter := make(chan []any, 1)
	c.answers[id] = waiter
	c.mu.Unlock()
	if _, err := stream.Write(frame([]any{0, id, method, params})); err != nil {
		return nil, err
	}
	select {
	case answer := <-waiter:
		if len(answer) < 4 {
			return nil, fmt.Errorf("%s: short answer %v", method, answer)
		}
		if answer[2] != nil {
			return nil, fmt.Errorf("%s failed: %v", method, answer[2])
		}
		return answer[3], nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("%s: no answer in 10 s", method)
	}
}

// roomStream is a room stream and what tells that the server finished it.
type roomStream struct {
	*webtransport.Stream
	ended chan struct{}
}

// joinRoom is docs/protocol.md's join: JoinRoom on the main stream, then a room stream whose
// first message is the stream id of the answer, then the peer's own Joined update on it.
func (c *client) joinRoom(
	ctx context.Context, session *webtransport.Session, mainStream io.Writer, room, token string,
) (*roomStream, map[string]any, int64, error) {
	answer, err := c.request(mainStream, "JoinRoom", map[string]any{
		"token": token, "room_id": room, "user_data": []byte{}, "position": []float64{0, 0},
	})
	if err != nil {
		return nil, nil, 0, err
	}
	joinedAnswer, _ := answer.(map[string]any)
	stream, err := session.OpenStreamSync(ctx)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("room stream: %w", err)
	}
	rs := &roomStream{Stream: stream, ended: make(chan struct{})}
	go c.read(stream, rs.ended)
	if _, err := stream.Write(frame(joinedAnswer["stream_id"])); err != nil {
		return nil, nil, 0, err
	}
	var joined map[string]any
	select {
	case joined = <-c.joined:
	case <-time.After(10 * time.Second):
		return nil, nil, 0, errors.New("no Joined update in 10 s")
	}
	mediaIDs, _ := joined["media_ids"].([]any)
	if len(mediaIDs) == 0 {
		return nil, nil, 0, fmt.Errorf("Joined without media ids: %v", joined)
	}
	return rs, joinedAnswer, asInt(mediaIDs[len(mediaIDs)-1]), nil
}

func join(url, room, token string, count int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	response, session, err := transport(grant).Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	emit("session", map[string]any{
		"status":        strconv.Itoa(response.StatusCode),
		"protocol":      response.Proto,
		"reset_at_peer": session.SessionState().ConnectionState.SupportsStreamResetPartialDelivery.Remote,
	})
	c := &client{answers: map[int64]chan []any{}, joined: make(chan map[string]any, 1)}
	// Read datagrams from the start: http3 keeps only 32 unread per session and drops the rest.
	received := make(chan []byte, 4*count)
	go func() {
		for {
			packet, err := session.ReceiveDatagram(session.Context())
			if err != nil {
				return
			}
			received <- packet
		}
	}()

	mainStream, err := session.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("main stream: %w", err)
	}
	go c.read(mainStream, nil)

	// Join and leave the room `rejoins` times first, each time on a new room stream: more
	// streams than the server's first grant (16 bidirectional), so the session only goes on if
	// the server raises WT_MAX_STREAMS as they end. Leaving is finishing the room stream; the
	// server then finishes its side.
	for i := 0; i < rejoins; i++ {
		roomStream, _, _, err := c.joinRoom(ctx, session, mainStream, room, token)
		if err != nil {
			return fmt.Errorf("join %d: %w", i+1, err)
		}
		if err := roomStream.Close(); err != nil {
			return err
		}
		select {
		case <-roomStream.ended:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("leave %d: the server did not finish the room stream", i+1)
		}
	}
	emit("rejoined", map[string]any{"count": rejoins})

	roomStream, joinedAnswer, mediaID, err := c.joinRoom(ctx, session, mainStream, room, token)
	if err != nil {
		return err
	}
	if _, err := c.request(roomStream, "StartMedia", map[string]any{
		"media_id": mediaID, "properties": map[string]any{"kind": "audio"},
	}); err != nil {
		return err
	}
	emit("ready", map[string]any{"peer_id": joinedAnswer["peer_id"], "media_id": mediaID})

	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "go" {
		return fmt.Errorf("expected 'go' on stdin, got %q", line)
	}
	sent := make([]string, 0, count)
	for i := 0; i < count; i++ {
		opus := make([]byte, 20+i%100)
		_, _ = rand.Read(opus)
		seq := int64(5000 + i)
		packet := pack([]any{1, []int64{mediaID}, seq, seq * 960, 0, opus})
		sent = append(sent, hex.EncodeToString(packet))
		if err := session.SendDatagram(packet); err != nil {
			return fmt.Errorf("datagram: %w", err)
		}
	}
	var heard []string
	deadline := time.After(20 * time.Second)
wait:
	for len(heard) < count {
		select {
		case packet := <-received:
			heard = append(heard, hex.EncodeToString(packet))
			// The test sends in bursts no larger than http3's queue and waits for these.
			emit("heard", map[string]any{"count": len(heard)})
		case <-deadline:
			break wait
		}
	}

	closed := make(chan struct{})
	go func() {
		_ = session.CloseWithError(0, "done")
		close(closed)
	}()
	cleanClose := true
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		cleanClose = false
	}
	emit("done", map[string]any{
		"sent":        sent,
		"received":    heard,
		"clean_close": cleanClose,
	})
	return nil
}
