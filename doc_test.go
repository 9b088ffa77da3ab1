package stevedore_test

import (
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/stevedore-dev/stevedore"

// packages lists the module's importable packages and commands (not internal/, not testdata).
func packages(t *testing.T) []string {
	t.Helper()
	var pkgs []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "internal") && p != "." {
			return filepath.SkipDir
		}
		if d.IsDir() && p != "." {
			if m, _ := filepath.Glob(filepath.Join(p, "*.go")); len(m) > 0 {
				pkgs = append(pkgs, filepath.ToSlash(p))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// The package doc names every package and command, and each of its doc links resolves to a
// package of the module (a link in brackets that resolves to nothing renders as plain text).
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	text := f.Doc.Text()
	pkgs := packages(t)
	known := map[string]bool{}
	for _, p := range pkgs {
		known[module+"/"+p] = true
		name := p
		if strings.HasPrefix(p, "examples/") {
			name = strings.TrimPrefix(p, "examples/")
		} else {
			name = module + "/" + p
		}
		if !strings.Contains(text, name) {
			t.Errorf("the package doc does not mention %s", name)
		}
	}
	var p comment.Parser
	p.LookupPackage = func(name string) (string, bool) {
		return name, known[name]
	}
	p.LookupSym = func(recv, name string) bool { return false }
	links := 0
	walk := func(ts []comment.Text) {
		for _, tx := range ts {
			switch x := tx.(type) {
			case *comment.DocLink:
				links++
				if !known[x.ImportPath] {
					t.Errorf("doc link to %q, which is not a package of the module", x.ImportPath)
				}
			case comment.Plain:
				if m := unresolved.FindString(string(x)); m != "" {
					t.Errorf("a doc link that does not resolve: %s", m)
				}
			}
		}
	}
	d := p.Parse(text)
	for _, b := range d.Content {
		switch b := b.(type) {
		case *comment.Paragraph:
			walk(b.Text)
		case *comment.List:
			for _, it := range b.Items {
				for _, c := range it.Content {
					if para, ok := c.(*comment.Paragraph); ok {
						walk(para.Text)
					}
				}
			}
		}
	}
	if links == 0 {
		t.Error("no doc links")
	}
}

// unresolved is what a doc link left as text looks like: [name] or [pkg.Name].
var unresolved = regexp.MustCompile(`\[[A-Za-z][\w./-]*\]`)

// One alias scheme wherever our targets and the SDK's packages of the same names meet: ours
// keep their names (ecs, ec2, eks), the SDK's are awsecs, awsec2 and awseks. Checked in every
// Go file that imports both, and in the README's Go snippets.
func TestImportAliases(t *testing.T) {
	sdkAlias := regexp.MustCompile(`^aws(ecs|ec2|eks)$`)
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		ours, sdk := map[string]string{}, map[string]string{}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			name := ""
			if imp.Name != nil {
				name = imp.Name.Name
			}
			for _, svc := range []string{"ecs", "ec2", "eks"} {
				switch path {
				case module + "/targets/" + svc:
					ours[svc] = name
				case "github.com/aws/aws-sdk-go-v2/service/" + svc:
					sdk[svc] = name
				}
			}
		}
		for svc, name := range ours {
			alias, both := sdk[svc]
			if !both {
				continue
			}
			if name != "" || !sdkAlias.MatchString(alias) || alias != "aws"+svc {
				t.Errorf("%s imports targets/%s as %q and the SDK's %s as %q; want %s and aws%s", p, svc, name, svc, alias, svc, svc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`\b(ecs|ec2|eks)\.NewFromConfig`).FindAllString(string(readme), -1); len(m) > 0 {
		t.Errorf("README calls the SDK's clients without the aws prefix: %v", m)
	}
}
