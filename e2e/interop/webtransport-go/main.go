// An independent WebTransport client for the interop test (e2e/interop/webtransportGo.test.ts):
// webtransport-go v0.13.0 (draft-ietf-webtrans-http3-15, on quic-go) dials the URL given and
// prints one line: `OK <status>` when the session opened (then closes it), or
// `DIAL-ERROR <error>` (exit 3). The dev certificate of a test grid is not verified.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: webtransport-go-probe https://HOST:PORT/main")
		os.Exit(2)
	}
	transport := webtransport.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}},
		// Both are what webtransport-go requires of its own side (client_conn.go).
		QUICConfig: &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	response, session, err := transport.Dial(ctx, os.Args[1], nil)
	if err != nil {
		fmt.Printf("DIAL-ERROR %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("OK %d\n", response.StatusCode)
	_ = session.CloseWithError(0, "done")
}
