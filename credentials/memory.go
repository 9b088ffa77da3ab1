package credentials

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/stevedore-dev/stevedore/deploy"
)

// MemoryStore is a Store and Labeler held in memory, for tests and for programs that take
// secrets from their own configuration. Versions are numbered from 1. The zero value is not
// ready; use NewMemoryStore.
type MemoryStore struct {
	mu      sync.Mutex
	secrets map[string]*memSecret
}

type memSecret struct {
	versions []Secret       // versions[i] is version i+1
	labels   map[string]int // label -> version number
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{secrets: map[string]*memSecret{}} }

func memTarget(name string) string { return "memory:" + name }

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, name string, v Version) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, deploy.Wrap(deploy.ErrCanceled, memTarget(name), "get secret", err, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.secrets[name]
	if !ok {
		return Entry{}, deploy.Errorf(deploy.ErrNotFound, memTarget(name), "get secret", "no secret by this name")
	}
	n := len(s.versions)
	switch {
	case v.ID != "" && v.Label != "":
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, memTarget(name), "get secret", "both a version id and a label are given; give one")
	case v.ID != "":
		i, err := strconv.Atoi(v.ID)
		if err != nil || i < 1 {
			return Entry{}, deploy.Errorf(deploy.ErrInvalid, memTarget(name), "get secret", "version %q is not a version number", v.ID)
		}
		if i > len(s.versions) {
			return Entry{}, deploy.Errorf(deploy.ErrNotFound, memTarget(name), "get secret", "no version %d; the latest is %d", i, len(s.versions))
		}
		n = i
	case v.Label != "":
		i, ok := s.labels[v.Label]
		if !ok {
			return Entry{}, deploy.Errorf(deploy.ErrNotFound, memTarget(name), "get secret", "no version has label %q", v.Label)
		}
		n = i
	}
	return m.entry(name, s, n), nil
}

func (m *MemoryStore) entry(name string, s *memSecret, n int) Entry {
	e := Entry{Name: name, Value: s.versions[n-1], Version: strconv.Itoa(n)}
	for l, i := range s.labels {
		if i == n {
			e.Labels = append(e.Labels, l)
		}
	}
	sort.Strings(e.Labels)
	return e
}

// Put implements Store.
func (m *MemoryStore) Put(ctx context.Context, name string, value Secret) (Entry, error) {
	if err := checkPut(memTarget(name), name, value); err != nil {
		return Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, deploy.Wrap(deploy.ErrCanceled, memTarget(name), "put secret", err, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.secrets[name]
	if !ok {
		s = &memSecret{labels: map[string]int{}}
		m.secrets[name] = s
	}
	s.versions = append(s.versions, NewSecret(value.Reveal()))
	return m.entry(name, s, len(s.versions)), nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return deploy.Wrap(deploy.ErrCanceled, memTarget(name), "delete secret", err, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.secrets[name]; !ok {
		return deploy.Errorf(deploy.ErrNotFound, memTarget(name), "delete secret", "no secret by this name")
	}
	delete(m.secrets, name)
	return nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, deploy.Wrap(deploy.ErrCanceled, memTarget(prefix), "list secrets", err, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for n := range m.secrets {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Label implements Labeler.
func (m *MemoryStore) Label(ctx context.Context, name, version, label string) error {
	if err := ctx.Err(); err != nil {
		return deploy.Wrap(deploy.ErrCanceled, memTarget(name), "label secret version", err, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.secrets[name]
	if !ok {
		return deploy.Errorf(deploy.ErrNotFound, memTarget(name), "label secret version", "no secret by this name")
	}
	i, err := strconv.Atoi(version)
	if err != nil || i < 1 || i > len(s.versions) {
		return deploy.Errorf(deploy.ErrNotFound, memTarget(name), "label secret version", "no version %q", version)
	}
	if label == "" {
		return deploy.Errorf(deploy.ErrInvalid, memTarget(name), "label secret version", "the label is empty")
	}
	s.labels[label] = i
	return nil
}
