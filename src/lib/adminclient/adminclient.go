// Package adminclient reads comet's admin listener the way every reader of it does (labmon, bench, the engine
// suite): GET /stats, with the bearer token when one is set, decoded into schema.Stats. It is kept apart from
// src/lib/schema so that flood, which links the schema, does not link net/http.
package adminclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// maxStats bounds the /stats document read (a few hundred bytes per worker).
const maxStats = 4 << 20

// Stats fetches base+"/stats" (base is e.g. "http://127.0.0.1:11182") with client, sending token as
// "Authorization: Bearer <token>" when it is not empty. A document without an engine is not comet's.
func Stats(client *http.Client, base, token string) (schema.Stats, error) {
	var st schema.Stats
	req, err := http.NewRequest(http.MethodGet, base+"/stats", nil)
	if err != nil {
		return st, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("admin /stats: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStats)).Decode(&st); err != nil {
		return st, fmt.Errorf("admin /stats: %w", err)
	}
	if st.Engine == "" {
		return st, fmt.Errorf("admin /stats: not comet's document (no engine)")
	}
	return st, nil
}
