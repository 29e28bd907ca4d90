package backend

import (
	"maps"
	"strings"
	"testing"
)

func TestParseXLAConfig(t *testing.T) {
	tests := []struct {
		config  string
		gomlx   string
		client  map[string]any
		wantErr string
	}{
		{config: "/p/plugin.so", gomlx: "/p/plugin.so", client: map[string]any{}},
		{config: "/p/plugin.so,tf32", gomlx: "/p/plugin.so,tf32", client: map[string]any{}},
		{config: "/p/plugin.so,preallocate=false,tf32,memory_fraction=0.5,allocator=bfc", gomlx: "/p/plugin.so,tf32",
			client: map[string]any{"preallocate": false, "memory_fraction": float32(0.5), "allocator": "bfc"}},
		{config: "/p/plugin.so,preallocate=maybe", wantErr: "preallocate"},
		{config: "/p/plugin.so,memory_fraction=0", wantErr: "memory_fraction"},
		{config: "/p/plugin.so,memory_fraction=1.5", wantErr: "memory_fraction"},
		{config: "/p/plugin.so,allocator=magic", wantErr: "allocator"},
		{config: "/p/plugin.so,visible=1", wantErr: `unknown XLA option "visible=1"`},
		{config: "/p/plugin.so,,shared_buffers, tf32", gomlx: "/p/plugin.so,shared_buffers,tf32", client: map[string]any{}},
		{config: "/p/plugin.so,noshared_buffers", gomlx: "/p/plugin.so,noshared_buffers", client: map[string]any{}},
		{config: "/p/plugin.so,tf23", wantErr: `unknown XLA option "tf23"`},
		{config: "/p/plugin.so,preallocate", wantErr: `unknown XLA option "preallocate"`},
		{config: "/p/plugin.so,tf32,tf32", wantErr: `"tf32" given twice`},
		{config: "/p/plugin.so,shared_buffers,noshared_buffers", wantErr: `"noshared_buffers" given twice`},
		{config: "/p/plugin.so,memory_fraction=0.5,memory_fraction=0.9", wantErr: `"memory_fraction" given twice`},
		{config: "/p/plugin.so,preallocate=false,preallocate=true", wantErr: `"preallocate" given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			c, err := parseXLAConfig(tc.config)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.gomlx != tc.gomlx || !maps.Equal(c.client, tc.client) {
				t.Errorf("got %q %v, want %q %v", c.gomlx, c.client, tc.gomlx, tc.client)
			}
		})
	}
}
