// Package credentialstest is the conformance suite every credentials.Store passes: the
// Secrets Manager, Parameter Store and in-memory stores here, and any store of your own.
//
//	func TestMyStore(t *testing.T) {
//		credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
//			return credentialstest.Harness{Store: newMyStore(t), Prefix: "/test/" + t.Name()}
//		})
//	}
package credentialstest

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
)

// Harness is one fresh store for one test.
type Harness struct {
	Store credentials.Store
	// Prefix starts every name the test writes, so tests against a shared account or server
	// do not collide: "/conformance/run-1234" say. It must start with "/" and not end with one.
	Prefix string
	// NoMultiFieldVersions says the store keeps no single version for a multi-field secret
	// (Parameter Store keeps one parameter per field); the version tests skip it.
	NoMultiFieldVersions bool
}

var seq atomic.Int64

// Run runs the suite. newHarness is called once per test.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness, name func(string) string)
	}{
		{"PutGet", testPutGet},
		{"Versions", testVersions},
		{"Labels", testLabels},
		{"MultiField", testMultiField},
		{"SingleAndMultiFieldReplaceEachOther", testReplace},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"RejectsWithoutPrintingTheValue", testRejects},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			n := seq.Add(1)
			tc.fn(t, h, func(s string) string { return fmt.Sprintf("%s/t%d/%s", h.Prefix, n, s) })
		})
	}
}

func get(t *testing.T, s credentials.Store, name string, v credentials.Version) credentials.Entry {
	t.Helper()
	e, err := s.Get(t.Context(), name, v)
	if err != nil {
		t.Fatalf("Get(%q, %+v): %v", name, v, err)
	}
	return e
}

func put(t *testing.T, s credentials.Store, name, value string) credentials.Entry {
	t.Helper()
	e, err := s.Put(t.Context(), name, credentials.NewSecret(value))
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	return e
}

func testPutGet(t *testing.T, h Harness, name func(string) string) {
	for _, v := range []string{"s3cr3t", "line one\nline two\n", `quote " backslash \ unicode ✓ tab	end`, "[1,2,3]", strings.Repeat("x", 4000)} {
		n := name(fmt.Sprintf("value%d", len(v)))
		put(t, h.Store, n, v)
		e := get(t, h.Store, n, credentials.Version{})
		if e.Value.Reveal() != v {
			t.Errorf("Get(%q) = %d bytes that differ from the %d put", n, e.Value.Len(), len(v))
		}
		if e.Name != n {
			t.Errorf("Get(%q).Name = %q", n, e.Name)
		}
	}
}

func testVersions(t *testing.T, h Harness, name func(string) string) {
	n := name("versioned")
	first := put(t, h.Store, n, "one")
	second := put(t, h.Store, n, "two")
	if first.Version == "" || second.Version == "" || first.Version == second.Version {
		t.Fatalf("Put versions %q then %q; want two different non-empty versions", first.Version, second.Version)
	}
	if got := get(t, h.Store, n, credentials.Version{}); got.Value.Reveal() != "two" || got.Version != second.Version {
		t.Errorf("current: version %q, value equal to the second put: %v", got.Version, got.Value.Reveal() == "two")
	}
	if got := get(t, h.Store, n, credentials.Version{ID: first.Version}); got.Value.Reveal() != "one" {
		t.Errorf("Get by the first version id %q did not return the first value", first.Version)
	}
}

func testLabels(t *testing.T, h Harness, name func(string) string) {
	l, ok := h.Store.(credentials.Labeler)
	if !ok {
		t.Skip("the store is not a credentials.Labeler")
	}
	n := name("labelled")
	first := put(t, h.Store, n, "one")
	second := put(t, h.Store, n, "two")
	if err := l.Label(t.Context(), n, first.Version, "stable"); err != nil {
		t.Fatalf("Label: %v", err)
	}
	got := get(t, h.Store, n, credentials.Version{Label: "stable"})
	if got.Value.Reveal() != "one" || got.Version != first.Version {
		t.Errorf("Get by label: version %q, want %q", got.Version, first.Version)
	}
	if !contains(got.Labels, "stable") {
		t.Errorf("labels of the labelled version = %q, want them to include stable", got.Labels)
	}
	// Labelling another version moves the label.
	if err := l.Label(t.Context(), n, second.Version, "stable"); err != nil {
		t.Fatalf("Label: %v", err)
	}
	if got := get(t, h.Store, n, credentials.Version{Label: "stable"}); got.Version != second.Version {
		t.Errorf("after moving the label, it is on version %q, want %q", got.Version, second.Version)
	}
	_, err := h.Store.Get(t.Context(), n, credentials.Version{Label: "nosuchlabel"})
	if !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Get by a label no version has: %v, want deploy.ErrNotFound", err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func fieldsOf(t *testing.T, s credentials.Secret) map[string]string {
	t.Helper()
	f, ok := s.Fields()
	if !ok {
		t.Fatalf("the value read back is not a JSON object (%d bytes)", s.Len())
	}
	out := map[string]string{}
	for k, v := range f {
		out[k] = v.Reveal()
	}
	return out
}

func testMultiField(t *testing.T, h Harness, name func(string) string) {
	n := name("db")
	want := map[string]string{"username": "admin", "password": "p@ss\"word\n", "host": "db.internal"}
	fields := map[string]credentials.Secret{}
	for k, v := range want {
		fields[k] = credentials.NewSecret(v)
	}
	e, err := h.Store.Put(t.Context(), n, credentials.FromFields(fields))
	if err != nil {
		t.Fatalf("Put multi-field: %v", err)
	}
	if d := cmp.Diff(want, fieldsOf(t, get(t, h.Store, n, credentials.Version{}).Value)); d != "" {
		t.Errorf("fields read back (-want +got):\n%s", d)
	}
	// A second version with a field fewer reads back without it.
	delete(fields, "host")
	delete(want, "host")
	fields["password"] = credentials.NewSecret("rotated")
	want["password"] = "rotated"
	if _, err := h.Store.Put(t.Context(), n, credentials.FromFields(fields)); err != nil {
		t.Fatalf("Put multi-field again: %v", err)
	}
	if d := cmp.Diff(want, fieldsOf(t, get(t, h.Store, n, credentials.Version{}).Value)); d != "" {
		t.Errorf("fields after the second put (-want +got):\n%s", d)
	}
	if h.NoMultiFieldVersions {
		return
	}
	if got := fieldsOf(t, get(t, h.Store, n, credentials.Version{ID: e.Version}).Value); got["password"] != "p@ss\"word\n" {
		t.Errorf("the first version's fields were not kept")
	}
}

func testReplace(t *testing.T, h Harness, name func(string) string) {
	n := name("shape")
	put(t, h.Store, n, "single")
	put(t, h.Store, n, `{"a":"1","b":"2"}`)
	if d := cmp.Diff(map[string]string{"a": "1", "b": "2"}, fieldsOf(t, get(t, h.Store, n, credentials.Version{}).Value)); d != "" {
		t.Errorf("single then multi-field (-want +got):\n%s", d)
	}
	put(t, h.Store, n, "single again")
	if got := get(t, h.Store, n, credentials.Version{}); got.Value.Reveal() != "single again" {
		t.Errorf("multi-field then single: read back %d bytes, not the value put", got.Value.Len())
	}
	names, err := h.Store.List(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{n}, names); d != "" {
		t.Errorf("List after changing shape (-want +got):\n%s", d)
	}
}

func testNotFound(t *testing.T, h Harness, name func(string) string) {
	n := name("missing")
	_, err := h.Store.Get(t.Context(), n, credentials.Version{})
	if !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("Get of a missing secret: %v, want deploy.ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), n) {
		t.Errorf("the error %q does not name the secret %q", err, n)
	}
	if err := h.Store.Delete(t.Context(), n); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Delete of a missing secret: %v, want deploy.ErrNotFound", err)
	}
}

func testDelete(t *testing.T, h Harness, name func(string) string) {
	single, multi := name("gone"), name("gone-multi")
	put(t, h.Store, single, "x")
	put(t, h.Store, multi, `{"user":"u","pass":"p"}`)
	for _, n := range []string{single, multi} {
		if err := h.Store.Delete(t.Context(), n); err != nil {
			t.Fatalf("Delete(%q): %v", n, err)
		}
		if _, err := h.Store.Get(t.Context(), n, credentials.Version{}); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("Get after Delete(%q): %v, want deploy.ErrNotFound", n, err)
		}
	}
	names, err := h.Store.List(t.Context(), name(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("List after deleting everything = %q", names)
	}
}

func testList(t *testing.T, h Harness, name func(string) string) {
	a, b, c := name("app/a"), name("app/b"), name("other")
	put(t, h.Store, b, "2")
	put(t, h.Store, a, "1")
	put(t, h.Store, c, "3")
	put(t, h.Store, name("app/db"), `{"user":"u","pass":"p"}`)
	got, err := h.Store.List(t.Context(), name("app/"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{a, b, name("app/db")}, got); d != "" {
		t.Errorf("List (-want +got):\n%s", d)
	}
}

func testRejects(t *testing.T, h Harness, name func(string) string) {
	const sentinel = "SENTINEL-do-not-print-3f9a"
	for _, tc := range []struct {
		name  string
		value string
	}{
		{"", sentinel},
		{name("empty"), ""},
		{name("bad-utf8"), sentinel + "\xff"},
	} {
		_, err := h.Store.Put(t.Context(), tc.name, credentials.NewSecret(tc.value))
		if !errors.Is(err, deploy.ErrInvalid) {
			t.Errorf("Put(%q, %d bytes): %v, want deploy.ErrInvalid", tc.name, len(tc.value), err)
		}
		if err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), sentinel) {
			t.Errorf("the error for Put(%q) prints the value", tc.name)
		}
	}
}
