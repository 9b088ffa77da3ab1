package credentials_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stevedore-dev/stevedore/credentials"
)

const R = credentials.Redacted

func redactAll(secrets []credentials.Secret, chunks ...string) string {
	var out bytes.Buffer
	r := credentials.NewRedactor(&out, secrets...)
	for _, c := range chunks {
		r.Write([]byte(c))
	}
	r.Close()
	return out.String()
}

func TestRedactorForms(t *testing.T) {
	pw := `p<a>&ss"wo\rd` + "\n" + "line-two-of-it"
	jsonSecret := `{"username":"admin","password":"hunter22","port":"1"}`
	secrets := []credentials.Secret{credentials.NewSecret(pw), credentials.NewSecret(jsonSecret), credentials.NewSecret("tok")}
	escaped, _ := json.Marshal(pw)
	tests := []struct{ name, in, want string }{
		{"raw", "x " + pw + " y", "x " + R + " y"},
		{"json escaped", `{"v":` + string(escaped) + `}`, `{"v":"` + R + `"}`},
		{"json escaped without html escaping", `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(pw) + `"`, `"` + R + `"`},
		{"base64", base64.StdEncoding.EncodeToString([]byte(pw)), R},
		{"base64 url raw", "=" + base64.RawURLEncoding.EncodeToString([]byte(pw)) + "=", "=" + R + "="},
		{"a line of a multi-line value", "  line-two-of-it\n", "  " + R + "\n"},
		{"a field of a JSON value", "password is hunter22.", "password is " + R + "."},
		{"a short field is left alone", "port 1 and admin", "port 1 and " + R},
		{"a short whole value is masked", "my tok", "my " + R},
		{"the whole JSON value", jsonSecret, R},
		{"nothing secret", "hello world", "hello world"},
		{"adjacent", "tokhunter22tok", R + R + R},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactAll(secrets, tc.in); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Every way of cutting the stream into two or three writes, and byte by byte, gives the
// output one write gives.
func TestRedactorSplitAcrossWrites(t *testing.T) {
	secrets := []credentials.Secret{credentials.NewSecret("correct-horse-battery"), credentials.NewSecret("horse"), credentials.NewSecret("battery-staple")}
	in := "a correct-horse-battery-staple; horse; battery-staple; correct-horse-batter!"
	want := redactAll(secrets, in)
	if strings.Contains(want, "correct-horse-battery") || strings.Contains(want, "battery-staple") || strings.Contains(want, "horse") {
		t.Fatalf("one write leaks: %q", want)
	}
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			if got := redactAll(secrets, in[:i], in[i:j], in[j:]); got != want {
				t.Fatalf("split at %d and %d:\n got %q\nwant %q", i, j, got, want)
			}
		}
	}
	var bytewise []string
	for _, c := range in {
		bytewise = append(bytewise, string(c))
	}
	if got := redactAll(secrets, bytewise...); got != want {
		t.Fatalf("byte by byte:\n got %q\nwant %q", got, want)
	}
}

func TestRedactorHoldsBackOnlyWhatMightBeASecret(t *testing.T) {
	var out bytes.Buffer
	r := credentials.NewRedactor(&out, credentials.NewSecret("s3cret-value"))
	r.Write([]byte("build step 1 ok\nuploading s3c"))
	if got := out.String(); got != "build step 1 ok\nuploading " {
		t.Errorf("after the first write: %q; want everything but the possible start of the secret", got)
	}
	r.Write([]byte("ret-value done\n"))
	if got := out.String(); got != "build step 1 ok\nuploading "+R+" done\n" {
		t.Errorf("after the second write: %q", got)
	}
	r.Write([]byte("s3"))
	r.Flush()
	if got := out.String(); !strings.HasSuffix(got, "done\ns3") {
		t.Errorf("Flush did not write the held-back bytes: %q", got)
	}
}

// FuzzRedactor checks that the output does not depend on how the stream is cut into writes,
// and that a secret written anywhere in a stream never comes out.
func FuzzRedactor(f *testing.F) {
	f.Add("correct-horse", "horse", "xx correct-horse yy correct-hor", uint8(3))
	f.Add("aaa", "aa", "aaaaaaa", uint8(1))
	f.Add("abcdef", "cd", "abcdabcdef", uint8(2))
	f.Fuzz(func(t *testing.T, s1, s2, in string, step uint8) {
		secrets := []credentials.Secret{credentials.NewSecret(s1), credentials.NewSecret(s2)}
		want := redactAll(secrets, in)
		n := int(step%16) + 1
		var chunks []string
		for i := 0; i < len(in); i += n {
			chunks = append(chunks, in[i:min(i+n, len(in))])
		}
		if got := redactAll(secrets, chunks...); got != want {
			t.Fatalf("writes of %d bytes: %q, one write: %q", n, got, want)
		}
		// A secret with no bracket, in a stream with no bracket, cannot survive (the mask
		// has brackets, so it cannot make the secret anew unless it lies inside the mask).
		if s1 != "" && !strings.ContainsAny(s1+in, "[]") && !strings.Contains(credentials.Redacted, s1) {
			if out := redactAll(secrets, in+s1+in); strings.Contains(out, s1) {
				t.Fatalf("secret %q survives in %q", s1, out)
			}
		}
	})
}

func TestEnviron(t *testing.T) {
	env, err := credentials.Environ([]string{"PATH=/bin", "DB_PASSWORD=old", "HOME=/root"}, map[string]credentials.Secret{
		"DB_PASSWORD": credentials.NewSecret("new"),
		"API_KEY":     credentials.NewSecret("k=v with spaces\nand lines"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "HOME=/root", "API_KEY=k=v with spaces\nand lines", "DB_PASSWORD=new"}
	if strings.Join(env, "|") != strings.Join(want, "|") {
		t.Errorf("Environ = %q, want %q", env, want)
	}
	for _, bad := range []string{"1X", "A-B", ""} {
		if _, err := credentials.Environ(nil, map[string]credentials.Secret{bad: credentials.NewSecret("SENTINEL")}); err == nil || strings.Contains(err.Error(), "SENTINEL") {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if _, err := credentials.Environ(nil, map[string]credentials.Secret{"X": credentials.NewSecret("SENTINEL\x00")}); err == nil || strings.Contains(err.Error(), "SENTINEL") {
		t.Errorf("NUL value: %v", err)
	}
}
