package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/store"
)

// explainLinkPaths are the paths of the links whose last segment names
// what omen explain explains: an alert's explanation_url and
// generatorURL, its explanation_api_url, and an entity's page (omen
// explain's root-cause links).
var explainLinkPaths = []string{"/ui/alerts/", "/api/v1/explanations/", "/ui/entities/"}

// ExplainID is the alert fingerprint, prediction id or entity that omen
// explain takes arg as: the id a link of omen's names when arg is one
// (an alert's explanation_url or generatorURL,
// <external_url>/ui/alerts/<id>; its explanation_api_url,
// <external_url>/api/v1/explanations/<id>; an entity's page,
// <external_url>/ui/entities/<entity>), unescaped; else arg unescaped as
// a path segment when it is one (a prediction id as those links write it,
// shop%2Fcart-0@1764000000000); else arg as it is.
func ExplainID(arg string) string {
	if id, _, ok := explainLink(arg); ok {
		return id
	}
	if strings.Contains(arg, "%") {
		if id, err := url.PathUnescape(arg); err == nil {
			return id
		}
	}
	return arg
}

// ExplainBase is the base URL of the omen a link of omen's (as ExplainID
// takes them: an alert's explanation_url, generatorURL or
// explanation_api_url, an entity's page) is under: its scheme://host and
// the path before the link's own (a reverse proxy's prefix, as omen's
// alerting.external_url gives it), e.g. https://omen.example.com/omen of
// https://omen.example.com/omen/ui/alerts/<id>; false when arg is no
// absolute http(s) link of omen's (a path, an id, an entity).
func ExplainBase(arg string) (string, bool) {
	_, base, ok := explainLink(arg)
	return base, ok && base != ""
}

// explainLink is the id a link of omen's names (unescaped) and the base
// URL it is under ("" for a path without scheme and host); false when arg
// is no such link.
func explainLink(arg string) (id, base string, ok bool) {
	if !strings.HasPrefix(arg, "http://") && !strings.HasPrefix(arg, "https://") && !strings.HasPrefix(arg, "/") {
		return "", "", false
	}
	u, err := url.Parse(arg)
	if err != nil {
		return "", "", false
	}
	p := u.EscapedPath()
	for _, prefix := range explainLinkPaths {
		i := strings.LastIndex(p, prefix)
		if i < 0 {
			continue
		}
		seg, _, _ := strings.Cut(p[i+len(prefix):], "/")
		if id, err := url.PathUnescape(seg); err == nil && id != "" {
			if u.Scheme != "" && u.Host != "" {
				base = u.Scheme + "://" + u.Host + p[:i]
			}
			return id, base, true
		}
	}
	return "", "", false
}

// isFingerprint reports whether id is written as an alert fingerprint:
// 16 hex digits (model.Fingerprint's String).
func isFingerprint(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := strconv.ParseUint(id, 16, 64)
	return err == nil
}

// explainNotFound is Explain's error when id is neither an alert's nor a
// prediction's explanation, nor an entity omen explains now (notFound,
// the explain-now 404): what id was taken as and what was not found. The
// API is asked about the entity it names (its predictions) to say so; an
// error asking it leaves the explain-now answer as it is.
func (c *Client) explainNotFound(ctx context.Context, id string, notFound error) error {
	if isFingerprint(id) {
		return notFoundf("no alert with fingerprint %s: omen lists no alert with it and stores no explanation under it "+
			"(it keeps an alert's until retention), and no entity is named so", id)
	}
	if entity, t, err := store.ParsePredictionID(id); err == nil {
		if err := c.predictionNotFound(ctx, id, entity, t); err != nil {
			return err
		}
		return fmt.Errorf("%q is no alert, prediction or entity omen knows: %w", id, notFound)
	}
	newest, ok, err := c.newestPrediction(ctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("%q is no alert, prediction or entity omen knows: %w", id, notFound)
	case !ok:
		return notFoundf("no entity %q (nor alert or prediction)%s", id, c.didYouMean(ctx, id, ""))
	}
	return notFoundf("entity %q has no current prediction to explain now (it is gone, or not scored since omen started); its newest stored prediction is %s (%s): omen explain %s shows it if it was explained",
		id, newest.ID, msTime(newest.T), newest.ID)
}

// notFoundf is fmt.Errorf(format, args...) marked ErrNotFound (NotFound).
func notFoundf(format string, args ...any) error { return NotFound(fmt.Errorf(format, args...)) }

// predictionNotFound says why the prediction id (entity@t) has no
// explanation: no entity, no prediction at t (with the nearest), or no
// explanation stored of it. nil when the API could not tell.
func (c *Client) predictionNotFound(ctx context.Context, id, entity string, t int64) error {
	newest, ok, err := c.newestPrediction(ctx, entity)
	if err != nil {
		return nil
	}
	if !ok {
		return notFoundf("no prediction %s: no entity %q%s", id, entity, c.didYouMean(ctx, entity, fmt.Sprintf("@%d", t)))
	}
	at, _, err := c.predictions(ctx, url.Values{"entity": {entity}, "from": {formatMs(t)}, "to": {formatMs(t)}, "limit": {"1"}})
	if err != nil {
		return nil
	}
	if len(at) > 0 {
		return notFoundf("prediction %s has no stored explanation: omen stores one when an alert fires on it, or when it is its entity's latest and explained now (omen explain %s explains %s's latest window)",
			id, entity, entity)
	}
	near := fmt.Sprintf("its newest, the nearest, is %s (%s)", newest.ID, msTime(newest.T))
	if newest.T > t {
		before, _, err := c.predictions(ctx, url.Values{"entity": {entity}, "to": {formatMs(t - 1)}, "limit": {"1"}})
		switch {
		case err != nil:
			near = fmt.Sprintf("its newest is %s (%s)", newest.ID, msTime(newest.T))
		case len(before) == 0:
			near = fmt.Sprintf("it has none kept before it; its newest is %s (%s)", newest.ID, msTime(newest.T))
		default:
			near = fmt.Sprintf("the nearest before it is %s (%s), its newest %s (%s)", before[0].ID, msTime(before[0].T), newest.ID, msTime(newest.T))
		}
	}
	return notFoundf("no prediction %s: entity %q has predictions but none at %d (%s); %s", id, entity, t, msTime(t), near)
}

// newestPrediction is the entity's newest stored prediction (false when
// the API knows no entity so named).
func (c *Client) newestPrediction(ctx context.Context, entity string) (Prediction, bool, error) {
	// Its newest only (the API lists an entity's newest first): without
	// a limit the request allows the API's MaxLimit (10000), and only the
	// backend's answering an entity's latest alone kept it to one.
	ps, _, err := c.predictions(ctx, url.Values{"entity": {entity}, "limit": {"1"}})
	if err != nil || len(ps) == 0 {
		return Prediction{}, false, err
	}
	return ps[0], true, nil
}

// didYouMean is "; did you mean "ns/name"?" when one current entity ends
// with /name (a pod named without its namespace), a list of them when
// several do; else the current entity nearest name by edit distance when
// one is a typo away (at most typoEdits); "" when none is (or the API could
// not tell). suffix follows each name (a prediction id's @time). The
// entities are those the API lists, at most its limit (MaxLimit): when it
// cut the list, the hint says it looked at those only.
func (c *Client) didYouMean(ctx context.Context, name, suffix string) string {
	ps, cut, err := c.predictions(ctx, nil)
	if err != nil {
		return ""
	}
	partial := ""
	if cut {
		partial = fmt.Sprintf(" (of %s: the API cut the list at its limit)",
			words.Plural(len(ps), "the first entity", fmt.Sprintf("the first %d entities", len(ps))))
	}
	var like, entities []string
	for _, p := range ps {
		if strings.HasSuffix(p.Entity, "/"+name) {
			like = append(like, strconv.Quote(p.Entity+suffix))
		}
		entities = append(entities, p.Entity)
	}
	sort.Strings(like)
	if len(like) == 0 {
		sort.Strings(entities) // the same hint whatever order the API listed them in
		if near := words.NearestWithin(name, entities, typoEdits); near != "" {
			return "; did you mean " + strconv.Quote(near+suffix) + "?" + partial
		}
	}
	switch {
	case len(like) == 0 && cut:
		return fmt.Sprintf("; none ends in /%s%s", name, partial)
	case len(like) == 0:
		return ""
	case len(like) == 1:
		return "; did you mean " + like[0] + "?" + partial
	}
	return fmt.Sprintf("; entities ending in /%s: %s%s", name, words.JoinSome(like, 5), partial)
}

// typoEdits is how many letters an entity may be off from a current one
// for didYouMean to name it: a fixed couple, not a share of its length,
// since the pods of a replica set differ in their last 5 letters only
// (shop/cart-7d9f8b6c5-x2k9q is no typo of shop/cart-7d9f8b6c5-abcde).
const typoEdits = 2

// predictions lists the predictions of GET /api/v1/predictions with the
// query q (nil: every entity's latest), and whether the API cut the list
// at its limit.
func (c *Client) predictions(ctx context.Context, q url.Values) ([]Prediction, bool, error) {
	path := "/api/v1/predictions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var ps []Prediction
	_, warnings, err := c.do(ctx, http.MethodGet, path, "", nil, &ps)
	if err != nil {
		return nil, false, err
	}
	return ps, truncated(warnings), nil
}

// msTime renders ms since the epoch as RFC 3339 (UTC, with its
// milliseconds when it has some).
func msTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.999Z07:00")
}
