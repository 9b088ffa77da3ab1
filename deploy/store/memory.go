package store

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Memory is a Locker and Journal in memory, for one process: tests, simulations, and several
// releases run by one program.
type Memory struct {
	mu      sync.Mutex
	leases  map[string]*deploy.Holder
	records map[string][]byte
	order   []string
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{leases: map[string]*deploy.Holder{}, records: map[string][]byte{}}
}

// Lock implements deploy.Locker.
func (m *Memory) Lock(ctx context.Context, key string, h deploy.Holder) (deploy.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.leases[key]; cur != nil && cur.ID != h.ID && time.Now().Before(cur.Expires) {
		c := *cur
		return nil, lockedErr(key, &c)
	}
	m.leases[key] = &h
	return &memLease{m: m, key: key, id: h.ID}, nil
}

// Yield implements deploy.Locker.
func (m *Memory) Yield(ctx context.Context, key string, h deploy.Holder) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.leases[key]; cur != nil && cur.ID != h.ID {
		y := h
		cur.YieldTo = &y
	}
	return nil
}

// Holder returns who holds key's lease, or nil.
func (m *Memory) Holder(key string) *deploy.Holder {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.leases[key]; cur != nil && time.Now().Before(cur.Expires) {
		c := *cur
		return &c
	}
	return nil
}

type memLease struct {
	m   *Memory
	key string
	id  string
}

func (l *memLease) Renew(ctx context.Context, until time.Time) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	cur := l.m.leases[l.key]
	switch {
	case cur == nil || cur.ID != l.id:
		return lostErr(l.key, cur)
	case cur.YieldTo != nil:
		return supersededErr(l.key, cur.YieldTo)
	}
	cur.Expires = until
	return nil
}

func (l *memLease) Release(ctx context.Context) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if cur := l.m.leases[l.key]; cur != nil && cur.ID == l.id {
		delete(l.m.leases, l.key)
	}
	return nil
}

// Write implements deploy.Journal.
func (m *Memory) Write(ctx context.Context, r *deploy.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.records[r.ID]; !ok {
		m.order = append(m.order, r.ID)
	}
	m.records[r.ID] = b
	return nil
}

// Unfinished implements deploy.Journal.
func (m *Memory) Unfinished(ctx context.Context) ([]*deploy.Record, error) {
	out, err := m.withDone(false)
	sortRecords(out)
	return out, err
}

// Finished implements deploy.History.
func (m *Memory) Finished(ctx context.Context, n int) ([]*deploy.Record, error) {
	out, err := m.withDone(true)
	return latest(out, n), err
}

// withDone returns the records whose Done is done.
func (m *Memory) withDone(done bool) ([]*deploy.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*deploy.Record
	for _, id := range m.order {
		r, err := decodeRecord(m.records[id])
		if err != nil {
			return nil, err
		}
		if r.Done == done {
			out = append(out, r)
		}
	}
	return out, nil
}

// Record returns the release's record as last written, or nil.
func (m *Memory) Record(id string) *deploy.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, _ := decodeRecord(m.records[id])
	return r
}

// Records returns every release's record, in the order they began.
func (m *Memory) Records() []*deploy.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*deploy.Record
	for _, id := range slices.Clone(m.order) {
		if r, err := decodeRecord(m.records[id]); err == nil {
			out = append(out, r)
		}
	}
	return out
}

var (
	_ deploy.Locker  = (*Memory)(nil)
	_ deploy.Journal = (*Memory)(nil)
)
