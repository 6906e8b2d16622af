package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrInvalid marks a request the backend refuses as invalid: a model file
// that does not decode, a model that does not fit the daemon's configured
// features, or one whose metadata version cannot name a model ("." or
// "..": a URL path cannot name them; an empty or blank one is replaced by
// m<checksum>). The API answers 422.
var ErrInvalid = errors.New("invalid")

// Invalid marks err as ErrInvalid (errors.Is) without changing its
// message.
func Invalid(err error) error { return invalidError{err} }

type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

// NotFound marks err as ErrNotFound (errors.Is) without changing its
// message (the API answers 404).
func NotFound(err error) error { return notFoundError{err} }

type notFoundError struct{ error }

func (e notFoundError) Is(target error) bool { return target == ErrNotFound }
func (e notFoundError) Unwrap() error        { return e.error }

// ErrConflict marks a request the backend refuses because of the
// registry's state: deleting the active model (or the one the daemon
// scores with). The API answers 409. A model file whose version is taken
// by other data, or was deleted, is not refused: it is registered as
// VERSION-<checksum> (201), and only when that is taken too is the upload
// refused with ErrConflict; a version given with the upload
// (AddOptions.Version) is not renamed: taken or deleted, it is refused
// with ErrConflict.
var ErrConflict = errors.New("conflict")

// Conflict marks err as ErrConflict (errors.Is) without changing its
// message.
func Conflict(err error) error { return conflictError{err} }

type conflictError struct{ error }

func (e conflictError) Is(target error) bool { return target == ErrConflict }
func (e conflictError) Unwrap() error        { return e.error }

// ModelVersion describes one version in the model registry.
type ModelVersion struct {
	Version     string             `json:"version"`
	Active      bool               `json:"active"`
	Created     int64              `json:"created"`
	Size        int64              `json:"size"`
	SHA256      string             `json:"sha256"`
	Description string             `json:"description,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Params      map[string]string  `json:"params,omitempty"`
}

// ModelAdmin manages the daemon's model registry for the API's model
// endpoints, so that models are registered, promoted and deleted while
// the daemon runs (it holds the store's lock). The contract of every
// part: methods are called from concurrent requests and must be safe for
// concurrent use; errors wrap ErrNotFound (unknown version, no previous
// model), ErrInvalid (a file that does not decode, a model that does not
// fit the configured features) or ErrConflict (deleting the active
// model); a write the store refuses for lack of disk space wraps
// store.ErrDiskFull (the API answers 507: uploads are refused below the
// store's disk reserve, promotions, rollbacks and deletes below half of
// it). A change refused with ErrInvalid leaves the registry unchanged.
// Registry changes should be atomic with respect to each other (the
// daemon's run one at a time).
type ModelAdmin interface {
	ModelLister
	ModelRegistrar
	ModelActivator
}

// ModelLister lists the model registry (ModelAdmin's contract).
type ModelLister interface {
	// Models lists the registered versions, newest first.
	Models(ctx context.Context) ([]ModelVersion, error)
}

// ModelRegistrar registers model versions and deletes them (ModelAdmin's
// contract). file is not retained after AddModel returns.
type ModelRegistrar interface {
	// AddModel registers a model file (package model's format) and, with
	// opts.Promote, makes it the active model; it returns the version
	// registered. With opts.Version the model is registered under exactly
	// that name or refused: ErrConflict when it is taken by other data or
	// was deleted, ErrInvalid when the store cannot name a model with it.
	AddModel(ctx context.Context, file []byte, opts AddOptions) (ModelVersion, error)
	// DeleteModel removes an inactive version and drops it from the
	// rollback history, so that a rollback goes to the version promoted
	// before it; it returns the deleted version's metadata. The active
	// version (and the one a daemon scores with) is refused with
	// ErrConflict, an empty one with ErrInvalid. The store does not
	// register a deleted version's name again.
	DeleteModel(ctx context.Context, version string) (ModelVersion, error)
}

// ModelActivator chooses the active model: it promotes and rolls back
// (ModelAdmin's contract). A promoted model is in use once the call
// returns.
type ModelActivator interface {
	// SetActive makes version the active model; an empty version rolls
	// back to the previously active one. It returns the active version.
	SetActive(ctx context.Context, version string) (ModelVersion, error)
}

// AddOptions are the options of ModelAdmin.AddModel.
type AddOptions struct {
	// Promote also makes the model the active one.
	Promote bool
	// Version, when not empty, is the version to register the model under
	// instead of the one in the file's metadata (which is then kept in
	// the registered version's Params as "file_version"): exactly that
	// name, never renamed to VERSION-<checksum>. The file is stored as
	// is. It lets a model whose version was deleted (the store does not
	// register a deleted version's name again) be registered again.
	Version string
}

// modelUploadTimeout bounds reading one model upload.
const modelUploadTimeout = 15 * time.Minute

// DefaultMaxModelBytes is the default of Options.MaxModelBytes.
const DefaultMaxModelBytes = 256 << 20

// ModelsPath is the API path of the model registry.
const ModelsPath = "/api/v1/models"

// ModelPath is the API path of a registered version (DELETE removes it).
func ModelPath(version string) string {
	return ModelsPath + "/" + escapeVersion(version)
}

// PromotePath is the API path that promotes a registered version.
func PromotePath(version string) string {
	return ModelsPath + "/" + escapeVersion(version) + "/promote"
}

// escapeVersion escapes version as one path segment; the segments "." and
// ".." are escaped too (a path holding them would be cleaned into another
// path). The store registers neither as a version any more, but an older
// store may hold them.
func escapeVersion(version string) string { return PathSegment(version) }

// RollbackPath is the API path that rolls back to the previous version.
const RollbackPath = ModelsPath + "/rollback"

func (a *API) modelRoutes() []route {
	if a.opts.Models == nil {
		return nil
	}
	return []route{
		{[]string{"GET"}, ModelsPath, "models", a.listModels},
		{[]string{"POST"}, ModelsPath, "add_model", a.addModel},
		{[]string{"POST"}, "/api/v1/models/{version}/promote", "promote_model", a.promoteModel},
		{[]string{"POST"}, RollbackPath, "rollback_model", a.rollbackModel},
		{[]string{"DELETE"}, "/api/v1/models/{version}", "delete_model", a.deleteModel},
	}
}

// noVersionRoutes answer 400 to the model routes with an empty version
// (which their patterns do not match: the mux would answer a plain-text
// 404, or redirect POST /api/v1/models//promote to
// /api/v1/models/promote). DELETE /api/v1/models too, which the mux
// redirected to /api/v1/models/ (and listed DELETE in the Allow of its
// 405s there). They are not operations, so they are not in allRoutes nor
// in openapi.json.
//
// They answer 400 whatever the request, so the Allow of a 405 at their
// path leaves their methods out (isNoVersionPattern): DELETE
// /api/v1/models is not a method the path serves.
func (a *API) noVersionRoutes() []route {
	if a.opts.Models == nil {
		return nil
	}
	return noVersionRouteList(a.noVersion)
}

// noVersionRouteList are noVersionRoutes, answered by h.
func noVersionRouteList(h func(w http.ResponseWriter, r *http.Request)) []route {
	return []route{
		{[]string{"DELETE"}, ModelsPath, "delete_model", h},
		{[]string{"DELETE"}, ModelsPath + "/{$}", "delete_model", h},
		{[]string{"POST"}, ModelsPath + "/promote", "promote_model", h},
	}
}

// isNoVersionPattern reports whether pattern (as http.ServeMux.Handler
// returns it) is a noVersionRoutes' one.
func isNoVersionPattern(pattern string) bool {
	for _, rt := range noVersionRouteList(nil) {
		for _, m := range rt.methods {
			if m+" "+rt.path == pattern {
				return true
			}
		}
	}
	return false
}

func (a *API) noVersion(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("%s %s: no model version: want %s/{version}%s", r.Method, r.URL.Path, ModelsPath,
		map[bool]string{true: "/promote"}[r.Method == http.MethodPost]))
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) {
	ms, err := a.opts.Models.Models(r.Context())
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	writeData(w, ms)
}

func (a *API) addModel(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/octet-stream" {
		writeError(w, http.StatusUnsupportedMediaType, "bad_data", fmt.Errorf("content type %q: send the model file as application/octet-stream", r.Header.Get("Content-Type")))
		return
	}
	promote := false
	if s := r.URL.Query().Get("promote"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("promote=%q: want true or false", s))
			return
		}
		promote = b
	}
	version := r.URL.Query().Get("version") // given once: queryOnce
	if version == "" && r.URL.Query().Has("version") {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("version=: empty version: give the version to register the model under, or leave version out to use the file's"))
		return
	}
	// The server's read timeout suits small requests; a model of up to
	// MaxModelBytes may come over a slow link.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(modelUploadTimeout))
	file, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxModelBytes))
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		writeError(w, http.StatusRequestTimeout, "timeout", fmt.Errorf("model upload not complete after %v", modelUploadTimeout))
		return
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("model file over %d bytes", tooLarge.Limit))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("read model file: %w", err))
		return
	case len(file) == 0:
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("empty body: send the model file (omen train --out) as the request body"))
		return
	}
	v, err := a.opts.Models.AddModel(r.Context(), file, AddOptions{Promote: promote, Version: version})
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	a.logger.Info("model registered over the API", "version", v.Version, "version_given", version != "", "promoted", promote, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusCreated, response{Status: "success", Data: v})
}

func (a *API) promoteModel(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	if version == "" {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("no version"))
		return
	}
	a.setActive(w, r, version)
}

func (a *API) rollbackModel(w http.ResponseWriter, r *http.Request) {
	a.setActive(w, r, "")
}

func (a *API) setActive(w http.ResponseWriter, r *http.Request, version string) {
	v, err := a.opts.Models.SetActive(r.Context(), version)
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	a.logger.Info("active model changed over the API", "version", v.Version, "rollback", version == "", "remote", r.RemoteAddr)
	writeData(w, v)
}

func (a *API) deleteModel(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	if version == "" {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("no version"))
		return
	}
	v, err := a.opts.Models.DeleteModel(r.Context(), version)
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	a.logger.Info("model deleted over the API", "version", v.Version, "sha256", v.SHA256, "remote", r.RemoteAddr)
	writeData(w, v)
}

// Models lists the daemon's registered model versions.
func (c *Client) Models(ctx context.Context) ([]ModelVersion, error) {
	var ms []ModelVersion
	_, err := c.Do(ctx, http.MethodGet, ModelsPath, &ms)
	return ms, err
}

// AddModel uploads a model file to the daemon's registry and, with
// opts.Promote, makes it the active model; with opts.Version it is
// registered under that version.
func (c *Client) AddModel(ctx context.Context, file []byte, opts AddOptions) (ModelVersion, error) {
	q := url.Values{"promote": {strconv.FormatBool(opts.Promote)}}
	if opts.Version != "" {
		q.Set("version", opts.Version)
	}
	var v ModelVersion
	_, err := c.DoBody(ctx, http.MethodPost, ModelsPath+"?"+q.Encode(),
		"application/octet-stream", bytes.NewReader(file), &v)
	return v, err
}

// SetActive promotes version, or with an empty version rolls back to the
// previously active one, on the daemon; it returns the active version.
func (c *Client) SetActive(ctx context.Context, version string) (ModelVersion, error) {
	path := RollbackPath
	if version != "" {
		path = PromotePath(version)
	}
	var v ModelVersion
	_, err := c.Do(ctx, http.MethodPost, path, &v)
	return v, err
}

// DeleteModel removes an inactive version from the daemon's registry; it
// returns the deleted version's metadata.
func (c *Client) DeleteModel(ctx context.Context, version string) (ModelVersion, error) {
	if version == "" {
		return ModelVersion{}, fmt.Errorf("delete model: no version given: %w", ErrInvalid)
	}
	var v ModelVersion
	_, err := c.Do(ctx, http.MethodDelete, ModelPath(version), &v)
	return v, err
}
