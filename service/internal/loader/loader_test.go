package loader

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
	"asap/service/internal/testwait"
)

// localEnv makes config.Load read the local environment with no Redis URL and no
// upstreams unless a test sets them.
func localEnv(t *testing.T) {
	t.Setenv("ASAP_ENV", "local")
	t.Setenv("ASAP_REDIS_URL", "")
	t.Setenv("ASAP_UPSTREAMS", "")
}

func run(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Main(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func writeFile(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "placements.json")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// messages subscribes to channel and returns a func that returns the messages
// published up to now: it publishes a marker and collects until the marker comes
// back, so "no message" is established without waiting for a timeout.
func messages(t *testing.T, client redis.UniversalClient, channel string) func() []string {
	t.Helper()
	ctx := context.Background()
	ps := client.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	ch := ps.Channel()
	return func() []string {
		t.Helper()
		if err := client.Publish(ctx, channel, "--marker--").Err(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m := testwait.Recv(t, "the marker message to come back", ch)
			if m == nil {
				t.Fatalf("subscription closed after %q", got)
			}
			if m.Payload == "--marker--" {
				return got
			}
			got = append(got, m.Payload)
		}
	}
}

func TestLoadWritesAndPublishesChanges(t *testing.T) {
	localEnv(t)
	client, prefix := redistest.Client(t)
	received := messages(t, client, prefix+"placements")
	ctx := context.Background()

	steps := []struct {
		name         string
		args         []string
		wantOut      string
		wantMessages []string
	}{
		{name: "first load: every sample", args: nil, wantOut: "5 loaded, 5 changed", wantMessages: []string{"demo-feed", "demo-article", "demo-paused", "demo-rewarded-video", "demo-native"}},
		{name: "same records again: nothing published", args: nil, wantOut: "5 loaded, 0 changed"},
		{
			name:         "one record changed",
			args:         []string{"-file", writeFile(t, strings.Replace(string(samples.JSON), `"ck-123"`, `"ck-124"`, 1))},
			wantOut:      "5 loaded, 1 changed",
			wantMessages: []string{"demo-feed"},
		},
		{
			name:         "file as an argument",
			args:         []string{writeFile(t, `[{"pkey": "extra", "status": "OK"}]`)},
			wantOut:      "1 loaded, 1 changed",
			wantMessages: []string{"extra"},
		},
	}
	for _, s := range steps {
		out, err := run(t, append([]string{"-redis", redistest.URL(), "-prefix", prefix}, s.args...)...)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !strings.Contains(out, s.wantOut) || strings.Count(out, "\n") != 1 {
			t.Errorf("%s: output %q; want one line with %q", s.name, out, s.wantOut)
		}
		if got := received(); strings.Join(got, ",") != strings.Join(s.wantMessages, ",") {
			t.Errorf("%s: published %q; want %q", s.name, got, s.wantMessages)
		}
	}

	store := store.NewStore(client, prefix)
	p, err := store.Get(ctx, "demo-feed")
	if err != nil || p.KeyValue != "ck-124" {
		t.Errorf("stored demo-feed = %v, %v; want keyValue ck-124", p, err)
	}
	if _, err := store.Get(ctx, "demo-paused"); err != nil {
		t.Errorf("stored demo-paused: %v", err)
	}
}

func TestLoadListsEveryProblem(t *testing.T) {
	localEnv(t)
	t.Setenv("ASAP_UPSTREAMS", "secondary=http://127.0.0.1:9/openrtb2/auction")
	client, prefix := redistest.Client(t)
	tests := []struct {
		name  string
		file  string
		wants []string
	}{
		{
			name: "invalid records",
			file: `[{"pkey": "bad key", "status": "OK"}, {"pkey": "b", "status": ""}, {"pkey": "c", "status": "OK", "keyTipe": "x"},
				{"pkey": "d", "status": "OK", "ad": {"upstream": "primary", "native": true}}]`,
			wants: []string{`record 0: placement "bad key"`, `record 1: placement "b": status is empty`, `record 2: json: unknown field "keyTipe"`,
				`record 3: placement "d": ad.upstream "primary" is not one of ASAP_UPSTREAMS (secondary)`},
		},
		{
			name: "upstreams not configured",
			file: string(samples.JSON),
			wants: []string{
				`placement "demo-feed": ad.upstream "primary" is not one of ASAP_UPSTREAMS (secondary)`,
				`placement "demo-article": ad.upstream "primary"`,
				`placement "demo-paused": ad.upstream "primary"`,
			},
		},
		{
			name: "auction upstreams not configured",
			file: `[{"pkey": "e", "status": "OK", "ad": {"native": true, "upstreams": [{"name": "secondary"}, {"name": "exchange-b", "bidAdjustment": 0.9}, {"name": "exchange-c"}]}}]`,
			wants: []string{
				`placement "e": ad.upstreams[1].name "exchange-b" is not one of ASAP_UPSTREAMS (secondary)`,
				`placement "e": ad.upstreams[2].name "exchange-c" is not one of ASAP_UPSTREAMS (secondary)`,
			},
		},
		{
			name: "experiments and targeting",
			file: `[{"pkey": "f", "status": "OK", "targeting": [{"appVersion": ">=5.2 <6.x", "keyType": "t", "keyValue": "v"}],
				"experiments": [{"id": "b", "percent": 70, "override": {"articlesBetweenAds": -1}}, {"id": "b", "percent": 40}]}]`,
			wants: []string{
				`placement "f": targeting[0].appVersion ">=5.2 <6.x": "6.x" is not a semantic version`,
				`placement "f": experiments[0].override.articlesBetweenAds must not be negative`,
				`placement "f": experiments[1].id "b" is already experiments[0]`,
				`placement "f": experiments: the percentages add up to 110; at most 100`,
			},
		},
		{name: "not JSON", file: `[{"pkey": }]`, wants: []string{"line 1, column 11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			_, err := run(t, "-redis", redistest.URL(), "-prefix", prefix, "-file", path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range append(tt.wants, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not mention %q", err, want)
				}
			}
			keys, _ := client.Keys(context.Background(), prefix+"*").Result()
			if len(keys) != 0 {
				t.Errorf("invalid input wrote %q", keys)
			}
		})
	}
}

func TestLoadDryRun(t *testing.T) {
	localEnv(t)
	client, prefix := redistest.Client(t)
	// No -redis and no ASAP_REDIS_URL: a dry run connects to nothing.
	out, err := run(t, "-dry-run", "-prefix", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "5 placements valid") {
		t.Errorf("output %q; want it to say 5 placements are valid", out)
	}
	out, err = run(t, "-dry-run", "-redis", redistest.URL(), "-prefix", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "5 placements valid") {
		t.Errorf("output with -redis %q; want it to say 5 placements are valid", out)
	}
	keys, _ := client.Keys(context.Background(), prefix+"*").Result()
	if len(keys) != 0 {
		t.Errorf("dry run wrote %q", keys)
	}
	if _, err := run(t, "-dry-run", writeFile(t, `[{"pkey": "x", "status": ""}]`)); err == nil {
		t.Error("dry run of an invalid file: no error")
	}
}

func TestLoadInvalidFileNamesIt(t *testing.T) {
	localEnv(t)
	path := writeFile(t, `[{"pkey": "a", "status": ""}]`)
	if _, err := run(t, "-dry-run", "-file", path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("load of an invalid file: error = %v; want it to name the file", err)
	}
}

func TestLoadArguments(t *testing.T) {
	localEnv(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" means no error
	}{
		{name: "no Redis URL", args: nil, wantErr: "pass -redis"},
		{name: "unknown flag", args: []string{"-force"}, wantErr: "flag provided but not defined"},
		{name: "two files", args: []string{"a.json", "b.json"}, wantErr: "one placements file"},
		{name: "file twice", args: []string{"-file", "a.json", "b.json"}, wantErr: "not both"},
		{name: "missing file", args: []string{"-dry-run", "-file", filepath.Join(t.TempDir(), "none.json")}, wantErr: "no such file"},
		{name: "bad URL", args: []string{"-redis", "http://user:hunter2@h/"}, wantErr: "want redis or rediss"},
		{name: "help", args: []string{"-h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error = %v; want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v; want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// `asap load` writes through the admin code: each change is a new version written
// by "load:<user>", with its audit line on stderr; an unchanged record makes none.
func TestLoadWritesVersions(t *testing.T) {
	localEnv(t)
	client, prefix := redistest.Client(t)
	ctx := context.Background()
	st := store.NewStore(client, prefix)
	load := func(data string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := Main(ctx, []string{"-redis", redistest.URL(), "-prefix", prefix, writeFile(t, data)}, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		return errOut.String()
	}
	audit := load(string(samples.JSON))
	if n := strings.Count(audit, "audit: placement changed"); n != 5 {
		t.Errorf("first load logged %d audit lines; want 5 (every sample):\n%s", n, audit)
	}
	if !strings.Contains(audit, "who="+Who()) || !strings.HasPrefix(Who(), "load") {
		t.Errorf("audit lines do not name %q:\n%s", Who(), audit)
	}
	audit = load(strings.Replace(string(samples.JSON), `"ck-123"`, `"ck-124"`, 1))
	if n := strings.Count(audit, "audit: placement changed"); n != 1 || !strings.Contains(audit, "pkey=demo-feed") ||
		!strings.Contains(audit, "old_version=1 new_version=2") || !strings.Contains(audit, "fields=[keyValue]") {
		t.Errorf("second load's audit: %s; want one line: demo-feed 1 → 2, keyValue", audit)
	}
	cur, err := st.Current(ctx, "demo-feed")
	if err != nil || cur.Version != 2 || cur.Who != Who() {
		t.Errorf("demo-feed = version %d by %q, %v; want version 2 by %q", cur.Version, cur.Who, err, Who())
	}
	if cur, _ := st.Current(ctx, "demo-article"); cur.Version != 1 {
		t.Errorf("demo-article is at version %d; want 1 (unchanged by the second load)", cur.Version)
	}
}
