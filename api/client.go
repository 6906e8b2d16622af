package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/store"
)

// Client calls the API. The zero HTTPClient means http.DefaultClient.
type Client struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:9464.
	URL        string
	Token      string
	HTTPClient *http.Client
	// TokenFlag is the option the token is given with (e.g.
	// "--token-file"), which the error of the API's 401 names: it says
	// whether a token was missing or wrong, not the API's "missing or
	// wrong bearer token".
	TokenFlag string
}

// apiError is the *Error of the API's error answer (code, its type and
// message). A 401 says whether the token was missing (none given) or
// wrong, and where to give it (TokenFlag).
func (c *Client) apiError(code int, typ, msg string) *Error {
	if code == http.StatusUnauthorized && typ == "unauthorized" {
		switch {
		case c.Token == "" && c.TokenFlag != "":
			msg = "the API wants a token: give " + c.TokenFlag
		case c.Token == "":
			msg = "the API wants a token"
		case c.TokenFlag != "":
			msg = "the API refused the token of " + c.TokenFlag + ": not the daemon's (its --web.token-file)"
		default:
			msg = "the API refused the token: not the daemon's (its --web.token-file)"
		}
	}
	return &Error{StatusCode: code, Type: typ, Message: msg}
}

// Error is an error answer of the API.
type Error struct {
	StatusCode int
	// Type is the API's errorType, or BadResponse.
	Type    string
	Message string
}

// BadResponse is the Type of an Error for an answer that is not omen's
// API (a wrong URL, a proxy's or a login page): the client's own, no
// errorType of the API's.
const BadResponse = "bad_response"

func (e *Error) Error() string {
	if e.NoRoute() {
		return fmt.Sprintf("%s (%d %s: omen has no such route: the URL's path looks wrong, give the base URL of omen's API, http(s)://HOST:PORT without /api/v1, with the path a reverse proxy serves it under, if any; or that omen is too old to serve it)", e.Message, e.StatusCode, e.Type)
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.StatusCode, e.Type)
}

// NoRoute reports whether e is omen's answer to a path under /api/ that
// no route takes (JSONErrors' 404: "no API route …"), which says the
// request's URL is wrong (a base URL ending in /api/v1, an omen too old
// to serve the route), not that a resource does not exist.
func (e *Error) NoRoute() bool {
	return e.StatusCode == http.StatusNotFound && e.Type == "not_found" && strings.HasPrefix(e.Message, noRoutePrefix)
}

// ErrNoRoute is what an *Error unwraps to when omen has no route for the
// request's path (Error.NoRoute): a wrong base URL, not ErrNotFound.
var ErrNoRoute = errors.New("no API route")

// Unwrap maps omen's 404 to ErrNotFound (its 404 for a path no route
// takes to ErrNoRoute), 409 to ErrConflict, 422 to ErrInvalid, 503 to
// ErrUnavailable and 507 to store.ErrDiskFull (an answer that is not
// omen's API maps to none).
func (e *Error) Unwrap() error {
	if e.Type == BadResponse {
		return nil // not omen's API: its 404 says nothing of omen's data
	}
	if e.NoRoute() {
		// Not "nothing stored": the URL is wrong.
		return ErrNoRoute
	}
	switch e.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusUnprocessableEntity:
		return ErrInvalid
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	case http.StatusInsufficientStorage:
		return store.ErrDiskFull
	}
	return nil
}

// Do sends a request to path (with query) and decodes the response's data
// into out; it returns the raw data as well.
func (c *Client) Do(ctx context.Context, method, path string, out any) (json.RawMessage, error) {
	return c.DoBody(ctx, method, path, "", nil, out)
}

// DoBody is Do with a request body of the given content type.
func (c *Client) DoBody(ctx context.Context, method, path, contentType string, body io.Reader, out any) (json.RawMessage, error) {
	data, _, err := c.do(ctx, method, path, contentType, body, out)
	return data, err
}

// do is DoBody that also returns the answer's warnings (that a list was
// cut at its limit).
func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) (json.RawMessage, []string, error) {
	resp, err := c.send(ctx, method, path, contentType, body)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("read response of %s %s: %w", method, path, err)
	}
	var r struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, nil, notOmen(resp, data, method, path)
	}
	if resp.StatusCode/100 != 2 || r.Status != "success" {
		return nil, nil, c.apiError(resp.StatusCode, r.ErrorType, r.Error)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return nil, nil, fmt.Errorf("decode response of %s %s: %w", method, path, err)
		}
	}
	return r.Data, r.Warnings, nil
}

// Explain fetches the explanation of arg (ExplainID: a link of omen's
// stands for the id it names): as an alert fingerprint or prediction id
// first, then, when that is not found, by explaining arg as an entity now.
// When neither is found, the error says what arg was taken as and what is
// missing (explainNotFound).
func (c *Client) Explain(ctx context.Context, arg string) (Explanation, json.RawMessage, error) {
	arg = ExplainID(arg)
	var x Explanation
	raw, err := c.Do(ctx, http.MethodGet, ExplanationPath(arg), &x)
	if err == nil {
		return x, raw, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Explanation{}, nil, err
	}
	var ae *Error
	if errors.As(err, &ae) && strings.Contains(ae.Message, pendingPhrase) {
		// A pending alert's fingerprint: the answer says what to do.
		return Explanation{}, nil, err
	}
	x = Explanation{}
	raw, err2 := c.Do(ctx, http.MethodPost, ExplainPath(arg), &x)
	if err2 != nil {
		if errors.Is(err2, ErrNotFound) {
			return Explanation{}, nil, c.explainNotFound(ctx, arg, err2)
		}
		return Explanation{}, nil, err2
	}
	return x, raw, nil
}

// WriteTable prints x as a ranked table: the top groups by share with a
// share bar, φ and the group's latest value in the window, then the ranked
// root-cause entities with the path of each one's UI page. An explanation
// with Error set (no attributions) is printed as its header and the
// error, without a table.
func WriteTable(w io.Writer, x Explanation, top int) error { return WriteTableAt(w, x, top, "") }

// WriteTableAt is WriteTable with the root causes' UI pages as absolute
// URLs under base, omen's base URL (the API's, e.g. omen explain's
// --url); "" prints their paths.
func WriteTableAt(w io.Writer, x Explanation, top int, base string) error {
	base = strings.TrimRight(base, "/")
	var b strings.Builder
	fmt.Fprintf(&b, "%s  prediction %s at %s\n", x.Entity, x.PredictionID,
		time.UnixMilli(x.T).UTC().Format(time.RFC3339))
	if x.AlertFingerprint != "" {
		fmt.Fprintf(&b, "alert %s\n", x.AlertFingerprint)
	}
	// As the alert's probability annotation: 3 decimals, more below 0.01
	// (a calibrated probability is often far below 1 %) or where the
	// probability and its threshold would read the same.
	fmt.Fprintf(&b, "P(failure) %s (threshold %s)  anomaly %.3f  model %s\n",
		alert.Probability(x.Probability, x.Threshold), alert.Probability(x.Threshold, x.Probability), x.AnomalyScore, x.ModelVersion)
	if x.Error != "" {
		// Stored without attributions: the explanation failed when the
		// alert fired.
		fmt.Fprintf(&b, "%s\n(omen explain %s explains the entity's latest window now)\n", x.Error, x.Entity)
		_, err := io.WriteString(w, b.String())
		return err
	}
	a := x.Attribution
	fmt.Fprintf(&b, "baseline %s -> f(x) %s  (%s, %d evaluations)\n\n", ProbText(a.Baseline, 4), ProbText(a.Value, 4), a.Method, a.Evaluations)
	groups := a.Top(top)
	last := latestValues(x)
	nameW := len("GROUP")
	for _, g := range groups {
		nameW = max(nameW, len(g.Name))
	}
	nameW = min(nameW, 40)
	fmt.Fprintf(&b, "%3s  %-*s  %-20s %6s  %9s  %s\n", "#", nameW, "GROUP", "SHARE", "", "PHI", "VALUE")
	for i, g := range groups {
		val := "-"
		if v, ok := last[g.Name]; ok {
			val = formatValue(v)
		}
		fmt.Fprintf(&b, "%3d  %-*s  %s %5.1f%%  %9s  %s\n", i+1, nameW, truncate(g.Name, nameW),
			bar(g.Share, 20), 100*g.Share, PhiText(g.Phi), val)
	}
	if len(groups) < len(a.Groups) {
		rest := 0.0
		for _, g := range a.Groups {
			rest += g.Phi
		}
		for _, g := range groups {
			rest -= g.Phi
		}
		fmt.Fprintf(&b, "%3s  %-*s  %-20s %6s  %9s\n", "", nameW, fmt.Sprintf("(%d more)", len(a.Groups)-len(groups)), "", "", PhiText(rest))
	}
	if len(x.Causes.Entities) > 0 {
		b.WriteString("\nroot causes\n")
		ents := append([]EntityCause(nil), x.Causes.Entities...)
		sort.SliceStable(ents, func(i, j int) bool { return ents[i].Score > ents[j].Score })
		for i, e := range ents {
			if top > 0 && i >= top {
				break
			}
			link := "-" // no live entity
			if ent := CauseEntity(e); ent != "" {
				link = base + EntityUIPath(ent)
				if ent != e.Entity {
					link += " (" + ent + ")"
				}
			}
			fmt.Fprintf(&b, "%3d  %-*s  score %.3f  evidence %.3f  %s\n", i+1, nameW, truncate(e.Entity, nameW), e.Score, e.Evidence, link)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// latestValues maps each feature to its latest non-missing value in the
// window.
func latestValues(x Explanation) map[string]float64 {
	out := map[string]float64{}
	for j, f := range x.Features {
		for i := len(x.Window) - 1; i >= 0; i-- {
			if j < len(x.Window[i]) && !math.IsNaN(x.Window[i][j]) {
				out[f] = x.Window[i][j]
				break
			}
		}
	}
	return out
}

// ProbText renders a probability (or a value on its scale, such as an
// attribution's baseline) with decimals decimals, or as many as two
// significant digits need below that (a calibrated probability is often
// far below 1 %: 0.00000063), or, below 1e-8, in scientific notation
// (6.3e-11). Fixed decimals read 6.3e-07 as 0.0000.
func ProbText(v float64, decimals int) string {
	d := max(decimals, alert.SignificantDecimals(v))
	if d > maxFixedDecimals {
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

// PhiText renders a Shapley value φ with its sign: 4 decimals (+0.0123),
// or, below 0.001 (where 4 decimals hold fewer than two significant
// digits), in scientific notation with two (+2.3e-07): the attributions
// of a calibrated probability far below 1 % all read +0.0000 otherwise.
func PhiText(phi float64) string {
	if phi == 0 || math.Abs(phi) >= 0.001 || math.IsNaN(phi) || math.IsInf(phi, 0) {
		return fmt.Sprintf("%+.4f", phi)
	}
	return fmt.Sprintf("%+.1e", phi)
}

// maxFixedDecimals is the most decimals ProbText writes before it turns
// to scientific notation.
const maxFixedDecimals = 9

func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e12 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func bar(share float64, width int) string {
	share = math.Max(0, math.Min(1, share))
	full := int(math.Round(share * float64(width)))
	return strings.Repeat("█", full) + strings.Repeat("·", width-full)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// send sends a request with the token; the caller closes the body.
func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
		hc = keepToken(hc)
	}
	return hc.Do(req)
}

// keepToken returns a copy of hc that follows a redirect only within the
// origin (scheme, host and port) of the request it started from: net/http
// carries the Authorization header to another port of the same host, from
// https to http, and to a subdomain, so a redirect there would hand the
// token to a server the user did not name. hc's own CheckRedirect (or
// net/http's limit of 10 redirects) applies within the origin.
func keepToken(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !SameOrigin(req.URL, via[0].URL) {
			return fmt.Errorf("redirected to %s, another server than %s: not followed with the token (give that URL as the API's if it is omen's)",
				req.URL.Redacted(), via[0].URL.Redacted())
		}
		if hc.CheckRedirect != nil {
			return hc.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// SameOrigin says whether a and b have the same scheme, host and port (a
// missing port is the scheme's: 443 for https, 80 otherwise), ignoring
// case.
func SameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}
