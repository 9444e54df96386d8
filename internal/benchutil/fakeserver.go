package benchutil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FakeMaxPayload is the max_payload a [FakeServer] announces.
const FakeMaxPayload = 1 << 20

// FakeServer is a discarding NATS server on loopback for client-only
// benchmarks. It speaks just enough of the protocol for nats.go to connect
// (INFO with headers and max_payload, CONNECT, PING/PONG), publish (PUB and
// HPUB are read and dropped) and subscribe (SUB and UNSUB are remembered),
// and it can push prebuilt messages to a subscription ([FakeServer.Deliver]).
// It routes nothing, answers no request and keeps nothing, so a benchmark
// against it measures what the client side costs: nats.go's encoding and
// socket writes, and whatever instrumentation runs around them.
// It is safe for concurrent use.
type FakeServer struct {
	ln   net.Listener
	info []byte
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[*fakeConn]struct{}
	closed bool
	subbed *sync.Cond // broadcast on every SUB
	nextID int
}

type fakeConn struct {
	c    net.Conn
	wmu  sync.Mutex        // serialises writes (PONG, Deliver)
	subs map[string]string // subject → sid, under FakeServer.mu
}

// StartFakeServer starts a FakeServer on a free loopback port and closes it
// in tb.Cleanup.
func StartFakeServer(tb testing.TB) *FakeServer {
	tb.Helper()
	s, err := NewFakeServer()
	if err != nil {
		tb.Fatalf("benchutil: fake server: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewFakeServer starts a FakeServer on a free loopback port. Close it.
func NewFakeServer() (*FakeServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s := &FakeServer{ln: ln, conns: map[*fakeConn]struct{}{}}
	s.subbed = sync.NewCond(&s.mu)
	s.info = fmt.Appendf(nil, `{"server_id":"NFAKEBENCH","server_name":"fake","version":"2.11.0","proto":1,`+
		`"go":"go1.26","host":"127.0.0.1","port":%d,"headers":true,"max_payload":%d}`, port, FakeMaxPayload)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// URL is the nats:// URL of the server.
func (s *FakeServer) URL() string { return "nats://" + s.ln.Addr().String() }

// Close stops accepting, closes every client connection and waits for the
// server's goroutines to end.
func (s *FakeServer) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		_ = c.c.Close()
	}
	s.subbed.Broadcast()
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *FakeServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{c: nc, subs: map[string]string{}}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.nextID++
		id := s.nextID
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c, id)
	}
}

func (s *FakeServer) serve(c *fakeConn, id int) {
	defer s.wg.Done()
	defer func() {
		_ = c.c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	info := append([]byte("INFO "), s.info[:len(s.info)-1]...)
	info = append(info, fmt.Sprintf(`,"client_id":%d}`, id)...)
	info = append(info, "\r\n"...)
	if err := c.write(info); err != nil {
		return
	}
	r := bufio.NewReaderSize(c.c, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		op, args := splitOp(line)
		switch op {
		case "PUB", "HPUB":
			// PUB subj [reply] size; HPUB subj [reply] hsize total: the
			// last argument is what follows, then CRLF.
			n, ok := lastInt(args)
			if !ok {
				return
			}
			if _, err := r.Discard(n + 2); err != nil {
				return
			}
		case "PING":
			if err := c.write([]byte("PONG\r\n")); err != nil {
				return
			}
		case "SUB":
			// SUB subj [queue] sid
			f := bytes.Fields(args)
			if len(f) < 2 {
				return
			}
			s.mu.Lock()
			c.subs[string(f[0])] = string(f[len(f)-1])
			s.subbed.Broadcast()
			s.mu.Unlock()
		case "UNSUB":
			f := bytes.Fields(args)
			if len(f) < 1 {
				return
			}
			s.mu.Lock()
			for subj, sid := range c.subs {
				if sid == string(f[0]) {
					delete(c.subs, subj)
				}
			}
			s.mu.Unlock()
		default: // CONNECT, PONG, anything else: nothing to answer
		}
	}
}

// readLine returns the next protocol line without its CRLF.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A long line (a large CONNECT): gather it.
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// splitOp returns the upper-cased operation and the rest of line.
func splitOp(line []byte) (string, []byte) {
	i := bytes.IndexAny(line, " \t")
	if i < 0 {
		i = len(line)
	}
	op := line[:i]
	switch {
	case asciiEqualFold(op, "PUB"):
		return "PUB", line[i:]
	case asciiEqualFold(op, "HPUB"):
		return "HPUB", line[i:]
	case asciiEqualFold(op, "PING"):
		return "PING", nil
	case asciiEqualFold(op, "PONG"):
		return "PONG", nil
	case asciiEqualFold(op, "SUB"):
		return "SUB", line[i:]
	case asciiEqualFold(op, "UNSUB"):
		return "UNSUB", line[i:]
	}
	return string(bytes.ToUpper(op)), line[i:]
}

func asciiEqualFold(b []byte, s string) bool {
	return len(b) == len(s) && bytes.EqualFold(b, []byte(s))
}

// lastInt parses the last whitespace-separated field of args.
func lastInt(args []byte) (int, bool) {
	args = bytes.TrimRight(args, " \t")
	i := bytes.LastIndexAny(args, " \t")
	n, err := strconv.Atoi(string(args[i+1:]))
	return n, err == nil && n >= 0
}

func (c *fakeConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.c.Write(b)
	return err
}

// WaitSubscribed waits until some client has subscribed to subject (a
// literal subject: no wildcard matching), or timeout.
func (s *FakeServer) WaitSubscribed(subject string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.subbed.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for c := range s.conns {
			if _, ok := c.subs[subject]; ok {
				return nil
			}
		}
		if s.closed {
			return errors.New("benchutil: fake server closed")
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("benchutil: no subscription to %q within %v", subject, timeout)
		}
		s.subbed.Wait()
	}
}

// Frame encodes one message as the server delivers it to the subscription
// sid: MSG, or HMSG when hdr is not empty (header keys sorted, written as
// given: NATS headers are case-sensitive).
func Frame(subject, sid string, hdr map[string][]string, data []byte) []byte {
	if len(hdr) == 0 {
		b := fmt.Appendf(nil, "MSG %s %s %d\r\n", subject, sid, len(data))
		b = append(b, data...)
		return append(b, "\r\n"...)
	}
	h := []byte("NATS/1.0\r\n")
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range hdr[k] {
			h = append(append(append(append(h, k...), ": "...), v...), "\r\n"...)
		}
	}
	h = append(h, "\r\n"...)
	b := fmt.Appendf(nil, "HMSG %s %s %d %d\r\n", subject, sid, len(h), len(h)+len(data))
	b = append(append(b, h...), data...)
	return append(b, "\r\n"...)
}

// Deliver writes n copies of the message (subject, hdr, data) to every
// client subscribed to subject, in large writes, and returns how many
// clients got them. It blocks while a client does not read (TCP
// backpressure): call it from its own goroutine when the reader is the
// benchmark.
func (s *FakeServer) Deliver(subject string, hdr map[string][]string, data []byte, n int) (int, error) {
	type target struct {
		c   *fakeConn
		sid string
	}
	var targets []target
	s.mu.Lock()
	for c := range s.conns {
		if sid, ok := c.subs[subject]; ok {
			targets = append(targets, target{c, sid})
		}
	}
	s.mu.Unlock()
	for _, t := range targets {
		if err := t.c.writeN(Frame(subject, t.sid, hdr, data), n); err != nil {
			return 0, err
		}
	}
	return len(targets), nil
}

// writeN writes n copies of frame, batched into writes of up to 64 KiB.
func (c *fakeConn) writeN(frame []byte, n int) error {
	per := max(1, (64<<10)/len(frame))
	batch := bytes.Repeat(frame, min(per, n))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for n > 0 {
		k := min(per, n)
		if _, err := c.c.Write(batch[:k*len(frame)]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
