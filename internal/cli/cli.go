// Package cli holds what the example commands share: repeatable flags, usage
// errors, and turning an error into an exit status with a one-line reason.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Pairs is a repeatable flag of KEY=VALUE pairs; Hint names them in errors ("Key=Value").
type Pairs struct {
	Values map[string]string
	Hint   string
}

// NewPairs returns an empty Pairs.
func NewPairs(hint string) *Pairs { return &Pairs{Values: map[string]string{}, Hint: hint} }

func (p *Pairs) String() string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(p.Values)
}

// Set implements flag.Value.
func (p *Pairs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || val == "" {
		return fmt.Errorf("write %s, not %q", p.Hint, v)
	}
	p.Values[k] = val
	return nil
}

// List is a repeatable flag of values, in the order given.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *List) Set(v string) error {
	if v == "" {
		return errors.New("give a value")
	}
	*l = append(*l, v)
	return nil
}

// UsageError is a mistake in the command line: exit status 2.
type UsageError string

func (e UsageError) Error() string { return string(e) }

// Exit prints err as "<name>: <reason>" on one line and returns the exit status: 0 without
// an error or for -h (the help asked for was printed), 2 for a UsageError, 1 otherwise.
func Exit(name string, err error, stderr io.Writer) int {
	var ue UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s (see -h)\n", name, ue)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
	return 1
}

// Parse parses args, turning a flag error into a UsageError.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError(err.Error())
	}
	if fs.NArg() > 0 {
		return UsageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	return nil
}
