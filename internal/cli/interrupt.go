package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Interrupt is how a command takes SIGINT and SIGTERM: the first cancels its context, so the
// deploy stops and rolls back, and says so on stderr; a second exits at once. While a child
// process is running (Forward), signals go to the child instead.
type Interrupt struct {
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan os.Signal
	stderr io.Writer
	name   string
	doing  string
	exit   func(int)

	mu      sync.Mutex
	got     os.Signal   // the first signal, if any
	child   *os.Process // signals go here while set
	stopped chan struct{}
}

type interruptKey struct{}

// OnInterrupt starts catching SIGINT and SIGTERM for the command name; doing says what the
// first one does ("cancelling and rolling back"). Call Stop when the command is done.
func OnInterrupt(name, doing string, stderr io.Writer) *Interrupt {
	in := &Interrupt{ch: make(chan os.Signal, 2), stderr: stderr, name: name, doing: doing, exit: os.Exit, stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	in.ctx, in.cancel = context.WithValue(ctx, interruptKey{}, in), cancel
	signal.Notify(in.ch, os.Interrupt, syscall.SIGTERM)
	go in.loop()
	return in
}

func (in *Interrupt) loop() {
	for {
		select {
		case <-in.stopped:
			return
		case sig := <-in.ch:
			in.mu.Lock()
			child, first := in.child, in.got == nil
			if first && child == nil { // a child's signals are its own business
				in.got = sig
			}
			in.mu.Unlock()
			switch {
			case child != nil:
				_ = child.Signal(sig)
			case first:
				fmt.Fprintf(in.stderr, "%s: %s: %s; send it again to exit at once\n", in.name, sig, in.doing)
				in.cancel()
			default:
				fmt.Fprintf(in.stderr, "%s: %s again: exiting at once\n", in.name, sig)
				in.exit(128 + signum(sig))
			}
		}
	}
}

// Context is cancelled by the first signal.
func (in *Interrupt) Context() context.Context { return in.ctx }

// Stop stops catching signals.
func (in *Interrupt) Stop() {
	signal.Stop(in.ch)
	close(in.stopped)
	in.cancel()
}

// Code is the exit status for a command that would exit with code: when a signal stopped a
// run that did not succeed, 128 plus the signal's number (130 for SIGINT, 143 for SIGTERM),
// as shells report it.
func (in *Interrupt) Code(code int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.got != nil && code != 0 {
		return 128 + signum(in.got)
	}
	return code
}

// Forward sends the signals the command gets to p until the returned function is called: a
// command that runs a child lets the child decide. Without an Interrupt in ctx (a test
// calling the command in-process) it does nothing.
func Forward(ctx context.Context, p *os.Process) (stop func()) {
	in, _ := ctx.Value(interruptKey{}).(*Interrupt)
	if in == nil {
		return func() {}
	}
	in.mu.Lock()
	in.child = p
	in.mu.Unlock()
	return func() {
		in.mu.Lock()
		in.child = nil
		in.mu.Unlock()
	}
}

func signum(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return 1
}
