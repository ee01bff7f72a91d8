// Command hostile measures a webhook port under attack (internal/hostile), on 127.0.0.1:
//
//	hostile bench [-d 10s]
//	    valid-delivery p50/p99 latency, first-try success and the server's peak RSS,
//	    without and with the attack, for the listener's guarded port (listener.Port and
//	    Middleware, as `keyroll listen` serves it) and for a bare net/http server given
//	    the same attack; a Markdown table on stdout.
//	hostile reviewer -addr HOST:PORT -key KEY [-conns 256]
//	    the security review's attack on a running listener: -conns keep-alive connections,
//	    each idle after one delivery with a wrong key, then one valid delivery: its status
//	    and time.
//	hostile handshakes -addr HOST:PORT [-n 2000]
//	    -n connections that each send bytes that are no TLS handshake.
//	hostile upstream -addr HOST:PORT; hostile bare-proxy -addr HOST:PORT -upstream URL
//	    a receiver answering 200, and a bare httputil.ReverseProxy to it: the two ends of
//	    the sidecar's end-to-end measurement (scripts/sidecar-bench.sh).
//
// The servers bench measures run as child processes (hostile serve), so that their RSS
// is their own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hostile bench|reviewer|handshakes|serve [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var err error
	switch os.Args[1] {
	case "bench":
		err = benchCmd(ctx, fs, os.Args[2:])
	case "reviewer":
		err = reviewerCmd(ctx, fs, os.Args[2:])
	case "handshakes":
		err = handshakesCmd(ctx, fs, os.Args[2:])
	case "serve":
		err = serveCmd(ctx, fs, os.Args[2:])
	case "upstream":
		err = upstreamCmd(ctx, fs, os.Args[2:])
	case "bare-proxy":
		err = bareProxyCmd(ctx, fs, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}
