package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goSnippet is what a ```go block of the documents uses without declaring
// it: the packages it calls (besides those it imports itself) and the
// values the text around it has introduced, as Go parameters.
type goSnippet struct {
	imports []string
	params  string
}

// goSnippets holds the context of every ```go block of the documents, by
// the block's first line. The module paths are relative to the module's
// (github.com/cadps/toolkit); gomlx paths are GoMLX's.
var goSnippets = map[string]goSnippet{
	`import "github.com/cadps/toolkit/cadps/prior/small"`: {
		[]string{"cadps/diffusion", "gomlx/pkg/ml/context"}, "ctx *context.Context"},
	`greyHalf, err := ops.NewFunc("grey_half",`: {
		[]string{"fmt", "ops", "gomlx/pkg/core/graph"}, ""},
	`prior, err := restore.LoadPrior(restore.ModelSpec{ConfigPath: "imagenet256-cond.json", Weights: "256x256_diffusion.pt"})`: {
		[]string{"cadps", "cadps/guidance", "cadps/restore", "gomlx/backends"}, "b backends.Backend"},
	`type sqDPS struct{} // DPS differentiating ‖y − A(x̂0)‖² instead of the norm`: {
		[]string{"cadps/guidance", "cadps/restore", "ops", "gomlx/backends", "gomlx/pkg/core/graph"},
		"b backends.Backend, prior *restore.Prior"},
	`x0, err := sampler.Run(nil, shape, y, cadps.NewGraphNoise(seed), nil)`: {
		[]string{"cadps", "gomlx/pkg/core/tensors"},
		"sampler *cadps.Sampler, shape []int, y *tensors.Tensor, seed uint64"},
	`m, err := lpips.Load(backend, lpips.Alex, "alexnet-owt-7be5be79.pth", "") // "": shipped v0.1 layers`: {
		[]string{"cadps/imageio", "cadps/metrics/lpips", "gomlx/backends"},
		"backend backends.Backend, x0, x1 []float32, n, h, w int, refs, imgs []*imageio.Image"},
	`m, err := fid.Load(backend, "pt_inception-2015-12-05-6726825d.pth")  // block 3: 2048-d`: {
		[]string{"cadps/imageio", "cadps/metrics/fid", "gomlx/backends"},
		"backend backends.Backend, imgs []*imageio.Image, s2 *fid.Stats, feats1, feats2 [][]float32"},
	`b, err := backend.New() // package cadps/backend: the CPU backend, or XLA as GOMLX_BACKEND names it`: {
		[]string{"cadps/backend", "cadps/restore"}, ""},
	`b, err := backend.New() // package cadps/backend: the toolkit's CPU backend, or XLA as GOMLX_BACKEND names it`: {
		[]string{"cadps/backend", "cadps/restore"}, ""},
}

// TestDocumentedGo compiles every ```go block of README.md and the
// documents under docs/ (those TestDocumentedCommands reads) against
// today's API, so that no documented snippet drifts from it. Each block
// becomes the body of a function, whose parameters are the values the
// text around it introduced (goSnippets); its type and func declarations
// at the start of a line stay at the top level, and its import lines join
// the file's imports. Compile errors name the document and its line.
func TestDocumentedGo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := documents(root)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(root, "internal", "docsnippets") // exists only in the overlay
	overlay := map[string]string{}
	scratch := t.TempDir()
	for _, doc := range docs {
		blocks, err := goBlocks(root, doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			first, _, _ := strings.Cut(b.text, "\n")
			ctx, ok := goSnippets[first]
			if !ok {
				t.Errorf("%s:%d: a ```go block starting %q has no entry in goSnippets: add the packages and values it uses", doc, b.line, first)
				continue
			}
			src, err := snippetFile(b, ctx)
			if err != nil {
				t.Errorf("%s:%d: %v", doc, b.line, err)
				continue
			}
			name := fmt.Sprintf("snippet%d.go", len(overlay))
			file := filepath.Join(scratch, name)
			if err := os.WriteFile(file, src, 0o644); err != nil {
				t.Fatal(err)
			}
			overlay[filepath.Join(pkg, name)] = file
		}
	}
	if len(overlay) == 0 {
		t.Fatal("no ```go block in the documents")
	}
	js, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(scratch, "overlay.json")
	if err := os.WriteFile(overlayFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-overlay", overlayFile, "./internal/docsnippets")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the documents' Go does not compile: %v\n%s", err, out)
	}
}

// goBlocks returns the ```go blocks of the Markdown file doc (relative to
// root).
func goBlocks(root, doc string) ([]docBlock, error) {
	f, err := os.Open(filepath.Join(root, doc))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []docBlock
	var cur *docBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		trimmed := strings.TrimSpace(sc.Text())
		switch {
		case cur == nil && trimmed == "```go":
			cur = &docBlock{doc: doc, line: n}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += sc.Text() + "\n"
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unterminated ```go block", doc, cur.line)
	}
	return blocks, sc.Err()
}

// snippetFile returns the Go file that compiles block b in the context
// ctx, with //line directives that point compile errors at the document.
func snippetFile(b docBlock, ctx goSnippet) ([]byte, error) {
	imports := map[string]bool{}
	for _, p := range ctx.imports {
		imports[importPath(p)] = true
	}
	var decls, body strings.Builder
	lines := strings.Split(strings.TrimSuffix(b.text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line, at := lines[i], fmt.Sprintf("//line %s:%d\n", b.doc, b.line+1+i)
		switch {
		case strings.HasPrefix(line, "import "):
			imports[strings.Trim(strings.TrimPrefix(line, "import "), `"`)] = true
		case strings.HasPrefix(line, "type ") || strings.HasPrefix(line, "func "):
			decls.WriteString(at + line + "\n")
			for strings.HasSuffix(line, "{") && i+1 < len(lines) {
				i++
				decls.WriteString(lines[i] + "\n")
				if lines[i] == "}" {
					break
				}
			}
		default:
			body.WriteString(at + line + "\n")
		}
	}
	var src strings.Builder
	src.WriteString("package docsnippets\n\nimport (\n")
	for p := range imports {
		fmt.Fprintf(&src, "\t%q\n", p)
	}
	fmt.Fprintf(&src, ")\n\n%s\nfunc _(%s) {\n%s", decls.String(), ctx.params, body.String())
	used, err := definedNames(src.String() + "}\n")
	if err != nil {
		return nil, err
	}
	for _, name := range used {
		fmt.Fprintf(&src, "\t_ = %s\n", name)
	}
	src.WriteString("}\n")
	return []byte(src.String()), nil
}

// importPath expands the short paths of goSnippets.
func importPath(p string) string {
	switch {
	case strings.HasPrefix(p, "gomlx/"):
		return "github.com/gomlx/" + p
	case strings.Contains(p, "/") || p == "cadps" || p == "ops":
		return "github.com/cadps/toolkit/" + p
	}
	return p
}

// definedNames returns the names that the statements of src's func _
// define with :=, which a snippet may leave unused, in order.
func definedNames(src string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, 0)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "_" {
			continue
		}
		for _, s := range fn.Body.List {
			as, ok := s.(*ast.AssignStmt)
			if !ok || as.Tok != token.DEFINE {
				continue
			}
			for _, e := range as.Lhs {
				if id, ok := e.(*ast.Ident); ok && id.Name != "_" && !seen[id.Name] {
					seen[id.Name] = true
					names = append(names, id.Name)
				}
			}
		}
	}
	return names, nil
}
