package credentials_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
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

// The leaks reported against the Redactor, one per row; each output must hold no trace of
// the value in the form written.
func TestRedactorLeaks(t *testing.T) {
	const pw = "hunter2-prod?>~" // its base64 holds '+' and '/' in the standard alphabet
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	wrap := func(s string, width int, nl string) string {
		var lines []string
		for len(s) > width {
			lines = append(lines, s[:width])
			s = s[width:]
		}
		return strings.Join(append(lines, s), nl)
	}
	long := strings.Repeat("correct horse battery staple ", 4) + pw // its base64 is over 76 characters
	tests := []struct {
		name    string
		secrets []string
		chunks  []string
		want    string
	}{
		{"the longest of two values that share a prefix", []string{"hunter2", "hunter2-prod"}, []string{"pw=hunter2-prod;"}, "pw=" + R + ";"},
		{"the same, the shorter given last", []string{"hunter2-prod", "hunter2"}, []string{"pw=hunter2-prod;", " and hunter2"}, "pw=" + R + "; and " + R},
		{"unpadded URL-safe base64", []string{pw}, []string{"t=" + b64(base64.RawURLEncoding, pw) + "&"}, "t=" + R + "&"},
		{"padded URL-safe base64", []string{pw + "x"}, []string{"t=" + b64(base64.URLEncoding, pw+"x") + "&"}, "t=" + R + "&"},
		{"the longest base64 form split one byte before its end", []string{pw + "x"}, []string{"k " + strings.TrimSuffix(b64(base64.StdEncoding, pw+"x"), "="), "= ok"}, "k " + R + " ok"},
		{"HTTP Basic auth: base64 of user:value", []string{pw}, []string{"Authorization: Basic " + b64(base64.StdEncoding, "deploy:"+pw) + "\n"}, ""},
		{"base64 after one other byte", []string{pw}, []string{b64(base64.StdEncoding, "u"+pw)}, ""},
		{"base64 after two other bytes", []string{pw}, []string{b64(base64.StdEncoding, "us"+pw)}, ""},
		{"base64 with more after the value", []string{pw}, []string{b64(base64.StdEncoding, pw+"; and the rest")}, ""},
		{"base64 wrapped at 76 columns", []string{long}, []string{wrap(b64(base64.StdEncoding, long), 76, "\n") + "\n"}, ""},
		{"base64 wrapped at 64 columns with CRLF", []string{long}, []string{wrap(b64(base64.StdEncoding, "k:"+long), 64, "\r\n") + "\r\n"}, ""},
		{"wrapped base64 cut across writes at the line break", []string{long}, strings.SplitAfter(wrap(b64(base64.StdEncoding, long), 76, "\n"), "\n"), ""},
		{"hex", []string{pw}, []string{"dump " + hex.EncodeToString([]byte(pw))}, "dump " + R},
		{"upper-case hex", []string{pw}, []string{"dump " + strings.ToUpper(hex.EncodeToString([]byte(pw)))}, "dump " + R},
		{"URL query encoding", []string{"p@ss word&x"}, []string{"GET /login?pw=" + url.QueryEscape("p@ss word&x") + " 200"}, "GET /login?pw=" + R + " 200"},
		{"URL path encoding", []string{"p@ss word&x"}, []string{"GET /u/" + url.PathEscape("p@ss word&x") + "/x"}, "GET /u/" + R + "/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var secrets []credentials.Secret
			for _, s := range tc.secrets {
				secrets = append(secrets, credentials.NewSecret(s))
			}
			got := redactAll(secrets, tc.chunks...)
			if tc.want != "" && got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if !strings.Contains(got, R) {
				t.Errorf("nothing masked: %q", got)
			}
			for _, s := range tc.secrets {
				for _, form := range leakForms(s) {
					if strings.Contains(strings.NewReplacer("\r", "", "\n", "").Replace(got), form) {
						t.Errorf("%q still shows %q", got, form)
					}
				}
			}
		})
	}
}

// leakForms are pieces of s's encodings long enough to identify it: the value itself, its
// hex, and every 12-character run of its base64 at each alignment.
func leakForms(s string) []string {
	forms := []string{s, hex.EncodeToString([]byte(s))}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for offset := range 3 {
			e := enc.EncodeToString(append(make([]byte, offset), s...))
			for i := 2; i+12 <= len(e)-2; i += 4 {
				forms = append(forms, e[i:i+12])
			}
		}
	}
	return forms
}

// Writers made with Writer share the stream: a value cut between stdout and stderr, shown
// in one log, is masked, and each byte still goes where it was written.
func TestRedactorAcrossStreams(t *testing.T) {
	var stdout, stderr, log bytes.Buffer
	both := func(w io.Writer) io.Writer { return io.MultiWriter(w, &log) }
	r := credentials.NewRedactor(both(&stdout), credentials.NewSecret("hunter2-prod"))
	errW := r.Writer(both(&stderr))
	io.WriteString(r, "starting\npassword: hunt")
	io.WriteString(errW, "er2-pr")
	io.WriteString(r, "od\n")
	io.WriteString(errW, "warning: done\n")
	r.Close()
	if strings.Contains(log.String(), "hunt") || !strings.Contains(log.String(), R) {
		t.Errorf("the log shows %q", log.String())
	}
	if stdout.String() != "starting\npassword: "+R+"\n" || stderr.String() != "warning: done\n" {
		t.Errorf("stdout %q, stderr %q: the mask goes where the value began, the rest where it was written", stdout.String(), stderr.String())
	}
}
