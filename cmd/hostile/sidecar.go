package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// upstreamCmd serves 200 "ok" to every request on -addr: the receiver behind a sidecar.
func upstreamCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", "127.0.0.1:0", "address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok\n")
	})
	return serveOn(ctx, *addr, h)
}

// bareProxyCmd is a bare httputil.ReverseProxy from -addr to -upstream, no key check: the
// reference the sidecar is compared with.
func bareProxyCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", "127.0.0.1:0", "address")
	up := fs.String("upstream", "", "upstream URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*up)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // as keyroll listen --upstream
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }, Transport: tr}
	return serveOn(ctx, *addr, rp)
}

func serveOn(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: h}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
