package credentials_test

import (
	"errors"
	"strings"
	"testing"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
)

// A value over what the store holds is refused before anything is written, one row per limit.
func TestPutRefusesValuesOverTheLimit(t *testing.T) {
	f := newFake()
	sm := credentials.NewSecretsManager(f.sm, nil)
	ps := credentials.NewParameterStore(f.ps, nil)
	advanced := credentials.NewParameterStore(f.ps, &credentials.ParameterStoreOptions{Tier: ssmtypes.ParameterTierAdvanced})
	big := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		store credentials.Store
		key   string
		value string
		want  string // "" means it fits
	}{
		{"Secrets Manager at its limit", sm, "app/at-limit", big(65536), ""},
		{"Secrets Manager over its limit", sm, "app/over-limit", big(65537), "the value is 65537 bytes; Secrets Manager holds at most 65536"},
		{"a Standard parameter at its limit", ps, "/app/at-limit", big(4096), ""},
		{"a Standard parameter over its limit", ps, "/app/over-limit", big(4097), "the value is 4097 bytes; a Standard parameter holds at most 4096"},
		{"an Advanced parameter over the Standard limit", advanced, "/app/advanced", big(8192), ""},
		{"an Advanced parameter over its limit", advanced, "/app/advanced-over", big(8193), "an Advanced parameter holds at most 8192"},
		{"a field over the limit", ps, "/app/fields", `{"ok":"x","big":"` + big(5000) + `"}`, "field big is 5000 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := f.srv.TotalCalls()
			_, err := tc.store.Put(t.Context(), tc.key, credentials.NewSecret(tc.value))
			if tc.want == "" {
				if err != nil {
					t.Errorf("a value that fits: %v", err)
				}
				return
			}
			if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("err = %v, want ErrInvalid saying %q", err, tc.want)
			}
			if writes := f.srv.TotalCalls() - calls; writes > 1 { // Parameter Store reads the old fields first
				t.Errorf("%d calls for a value refused before writing", writes)
			}
		})
	}
}
