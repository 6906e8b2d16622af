package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// Mounting the API on the daemon's mux. On a non-loopback listen address
// New requires a token (TokenFile).
func ExampleNew() {
	backend := apitest.Backend() // the daemon passes its adapter (e.g. api.NewStoreBackend)
	a, err := api.New(api.Options{Backend: backend, ListenAddress: "127.0.0.1:9464"})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	a.Register(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:9464/api/v1/alerts?state=firing", nil))
	body, _ := io.ReadAll(rec.Body)
	fmt.Println(rec.Code, len(body) > 0)

	_, err = api.New(api.Options{Backend: backend, ListenAddress: ":9464"})
	fmt.Println(err)
	// Output:
	// 200 true
	// api: listen address ":9464" is not a loopback address: a token is required (--web.token-file)
}
