// Package apicheck inspects a Go package's source for exported API that
// names a type its users cannot look up: by an unexported alias (such as
// "type node = graph.Node"), for which go doc and pkg.go.dev show the
// alias's name, "*node", instead of the type it stands for; or from an
// internal package (such as "[]cnn.Param" from ".../internal/cnn"), which
// a user outside the module can neither import nor name.
package apicheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// HiddenTypes parses the non-test Go files of the package in dir and
// returns, sorted, one line per use of an unexported type alias of the
// package, or of a name of an imported internal package, in its exported
// API: the signatures of exported functions and of exported methods of
// exported types, the exported fields of exported struct types and the
// methods of exported interfaces, such as "unet.go:305: Model.Apply uses
// node" or "lpips.go:40: Load uses cnn.Weights".
func HiddenTypes(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("apicheck: %w", err)
	}
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{} // by package name, build tags aside
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("apicheck: %w", err)
		}
		pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
	}
	var found []string
	for _, files := range pkgs {
		aliases := map[string]bool{}
		for _, f := range files {
			for _, d := range f.Decls {
				if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
					for _, s := range gd.Specs {
						if ts := s.(*ast.TypeSpec); ts.Assign.IsValid() && !ts.Name.IsExported() {
							aliases[ts.Name.Name] = true
						}
					}
				}
			}
		}
		var internal map[string]bool // the file's imports of internal packages, by name
		report := func(pos token.Pos, label string, e ast.Node) {
			for _, a := range hiddenIn(e, aliases, internal) {
				at := fset.Position(pos)
				found = append(found, fmt.Sprintf("%s:%d: %s uses %s", filepath.Base(at.Filename), at.Line, label, a))
			}
		}
		for _, f := range files {
			internal = internalImports(f)
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() {
						continue
					}
					label := d.Name.Name
					if d.Recv != nil {
						recv := receiverType(d.Recv.List[0].Type)
						if !ast.IsExported(recv) {
							continue
						}
						label = recv + "." + label
					}
					report(d.Pos(), label, d.Type)
				case *ast.GenDecl:
					if d.Tok != token.TYPE {
						continue
					}
					for _, s := range d.Specs {
						ts := s.(*ast.TypeSpec)
						if !ts.Name.IsExported() {
							continue
						}
						switch t := ts.Type.(type) {
						case *ast.StructType:
							for _, fl := range t.Fields.List {
								for _, n := range fl.Names {
									if n.IsExported() {
										report(fl.Pos(), ts.Name.Name+"."+n.Name, fl.Type)
									}
								}
							}
						case *ast.InterfaceType:
							for _, fl := range t.Methods.List {
								for _, n := range fl.Names {
									report(fl.Pos(), ts.Name.Name+"."+n.Name, fl.Type)
								}
							}
						default:
							report(ts.Pos(), ts.Name.Name, ts.Type)
						}
					}
				}
			}
		}
	}
	sort.Strings(found)
	return found, nil
}

// receiverType returns the name of a receiver's type, without pointer or
// type parameters.
func receiverType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return receiverType(t.X)
	case *ast.IndexExpr:
		return receiverType(t.X)
	case *ast.IndexListExpr:
		return receiverType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// internalImports returns the names under which f imports internal
// packages (those with an "internal" element in their import path).
func internalImports(f *ast.File) map[string]bool {
	names := map[string]bool{}
	for _, im := range f.Imports {
		path, err := strconv.Unquote(im.Path.Value)
		if err != nil || !slices.Contains(strings.Split(path, "/"), "internal") {
			continue
		}
		name := pathpkg.Base(path)
		if im.Name != nil {
			name = im.Name.Name
		}
		names[name] = true
	}
	return names
}

// hiddenIn lists the names of aliases, and the qualified names of
// packages in internal, that the type expression e mentions, once per
// mention. Parameter and field names inside e are skipped, and so are
// other packages' names.
func hiddenIn(e ast.Node, aliases, internal map[string]bool) []string {
	var names []string
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.SelectorExpr:
			if pkg, ok := x.X.(*ast.Ident); ok && internal[pkg.Name] {
				names = append(names, pkg.Name+"."+x.Sel.Name)
			}
			return false
		case *ast.Field:
			ast.Inspect(x.Type, visit)
			return false
		case *ast.Ident:
			if aliases[x.Name] {
				names = append(names, x.Name)
			}
		}
		return true
	}
	ast.Inspect(e, visit)
	return names
}
