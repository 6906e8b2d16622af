package api

import (
	"context"
	"fmt"
	"net/url"
)

// pendingNotFound returns the not-found error of an explanation asked for
// by id when id is the fingerprint of a pending alert (nil otherwise, also
// when the alerts cannot be listed). A pending alert has no explanation
// yet, and its labels have no severity, so its fingerprint is not the one
// it fires under: the answer says so, and where its entity's predictions
// and an explanation of its latest window are.
func (a *API) pendingNotFound(ctx context.Context, id string) error {
	x, ok := PendingAlert(ctx, a.backend, id)
	if !ok {
		return nil
	}
	return fmt.Errorf("explanation %q: %w: %s "+pendingPhrase+" %s: it is explained when it fires, under another fingerprint (a firing alert's labels add severity); its entity's predictions: /api/v1/predictions?entity=%s; an explanation of its latest window now: POST %s",
		id, ErrNotFound, id, x.Entity, url.QueryEscape(x.Entity), ExplainPath(x.Entity))
}

// PendingAlert returns the pending alert of b whose fingerprint is fp, if
// one is (false also when the alerts cannot be listed): the API and the
// UI say so where an explanation of fp is not found.
func PendingAlert(ctx context.Context, b Backend, fp string) (Alert, bool) {
	as, err := b.Alerts(ctx, AlertQuery{State: AlertPending})
	if err != nil {
		return Alert{}, false
	}
	for _, x := range as {
		if x.Fingerprint == fp && x.State == AlertPending {
			return x, true
		}
	}
	return Alert{}, false
}

// pendingPhrase marks pendingNotFound's message, which Client.Explain
// reports as it is rather than trying the id as an entity.
const pendingPhrase = "is a pending alert on"
