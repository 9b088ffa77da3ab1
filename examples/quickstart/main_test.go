package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, 20*time.Millisecond); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"registered shop:2", "shop:2: 3/3 running, stable", "done     rolled out version v2",
		"event: (service shop)", "CannotPullContainerError", "ECS rolled the service back to shop:2 by itself",
		"rollback deregistered shop:3", "v3: failed and was rolled back",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
