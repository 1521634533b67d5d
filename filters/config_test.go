package filters_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/weirproxy/weir/filters"
)

type testConfig struct {
	Max     int      `json:"max"`
	Mode    string   `json:"mode,omitempty"`
	List    []string `json:"list"`
	Untaged bool
	Skipped bool `json:"-"`
	hidden  bool
}

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		key     string
		wantErr error // nil: decodes
		want    testConfig
	}{
		{"absent keeps defaults", ``, "", nil, testConfig{Max: 7}},
		{"null keeps defaults", ` null `, "", nil, testConfig{Max: 7}},
		{"empty object", `{}`, "", nil, testConfig{Max: 7}},
		{"values", `{"max": 3, "mode": "x", "list": ["a"], "Untaged": true}`, "", nil,
			testConfig{Max: 3, Mode: "x", List: []string{"a"}, Untaged: true}},
		{"unknown key", `{"max": 3, "other": 1}`, "other", filters.ErrUnknownKey, testConfig{}},
		{"key in other case", `{"MAX": 3}`, "MAX", filters.ErrUnknownKey, testConfig{}},
		{"dash-tagged field", `{"Skipped": true}`, "Skipped", filters.ErrUnknownKey, testConfig{}},
		{"unexported field", `{"hidden": true}`, "hidden", filters.ErrUnknownKey, testConfig{}},
		{"wrong type", `{"max": "3"}`, "max", filters.ErrBadValue, testConfig{}},
		{"wrong element type", `{"list": [1]}`, "list", filters.ErrBadValue, testConfig{}},
		{"not an object", `[1]`, "", filters.ErrBadValue, testConfig{}},
		{"two objects", `{} {}`, "", filters.ErrBadValue, testConfig{}},
		{"broken", `{"max": `, "", filters.ErrBadValue, testConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testConfig{Max: 7}
			err := filters.DecodeConfig("demo", json.RawMessage(tt.raw), &got)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("DecodeConfig: %v", err)
				}
				if got.Max != tt.want.Max || got.Mode != tt.want.Mode || len(got.List) != len(tt.want.List) || got.Untaged != tt.want.Untaged {
					t.Fatalf("decoded %+v, want %+v", got, tt.want)
				}
				return
			}
			var ce *filters.ConfigError
			if !errors.As(err, &ce) || ce.Filter != "demo" || ce.Key != tt.key || !errors.Is(err, tt.wantErr) {
				t.Fatalf("DecodeConfig: %v; want a *ConfigError for key %q wrapping %v", err, tt.key, tt.wantErr)
			}
		})
	}
	t.Run("not a struct pointer", func(t *testing.T) {
		var n int
		if err := filters.DecodeConfig("demo", json.RawMessage(`{}`), &n); err == nil {
			t.Fatal("DecodeConfig into an int succeeded")
		}
	})
}

func TestConfigErrorf(t *testing.T) {
	err := filters.ConfigErrorf("demo", "max", "must be > %d", 0)
	var ce *filters.ConfigError
	if !errors.As(err, &ce) || ce.Filter != "demo" || ce.Key != "max" || !errors.Is(err, filters.ErrBadValue) {
		t.Fatalf("ConfigErrorf: %v", err)
	}
}
