package apicheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestHiddenTypes checks the finder on small packages: an unexported
// alias, or a type of an internal package, is reported wherever the
// exported API names it (signatures, struct fields, interface methods,
// type definitions); unexported defined types, parameter names,
// unexported functions, receivers and fields, and other packages' types
// are not.
func TestHiddenTypes(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"func", "package p\nimport \"strings\"\ntype node = strings.Builder\nfunc F(a, b *node) *node { return a }\n",
			[]string{"p.go:4: F uses node", "p.go:4: F uses node"}},
		{"method", "package p\ntype T struct{}\ntype n = int\nfunc (*T) M(o []n) {}\nfunc (t T) N() map[string]n { return nil }\n",
			[]string{"p.go:4: T.M uses n", "p.go:5: T.N uses n"}},
		{"field", "package p\ntype n = int\ntype S struct {\n\tA, b n\n\tC func(n int) error\n}\n",
			[]string{"p.go:4: S.A uses n"}},
		{"interface and type", "package p\ntype n = int\ntype I interface {\n\tM(x n)\n}\ntype F func() n\n",
			[]string{"p.go:4: I.M uses n", "p.go:6: F uses n"}},
		{"clean", "package p\nimport \"io\"\ntype n = int\ntype opt struct{}\ntype O func(*opt)\ntype t struct{}\n" +
			"func F(r io.Reader, f func(n int) error) (err error) { return }\nfunc (t) M(x n) {}\nfunc f(x n) {}\n" +
			"type S struct{ a n }\n", nil},
		{"internal package", "package p\nimport (\n\t\"example.com/m/internal/cnn\"\n\tw \"example.com/m/x/internal/weights\"\n\t\"example.com/m/internalx\"\n)\n" +
			"func F() []cnn.Param { return nil }\ntype S struct{ W *w.Spec; X internalx.T }\nfunc f() cnn.Param { return cnn.Param{} }\n",
			[]string{"p.go:7: F uses cnn.Param", "p.go:8: S.W uses w.Spec"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := HiddenTypes(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPublicAPI checks every package of the module outside internal
// folders and scripts/: its exported API names no type by an unexported
// alias or from an internal package.
func TestPublicAPI(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if d.Name() == "internal" || rel == "scripts" || d.Name() == "testdata" ||
			(rel != "." && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_"))) {
			return filepath.SkipDir
		}
		if files, _ := filepath.Glob(filepath.Join(path, "*.go")); len(files) == 0 {
			return nil
		}
		found, err := HiddenTypes(path)
		for _, f := range found {
			t.Errorf("%s/%s", filepath.ToSlash(rel), f)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
