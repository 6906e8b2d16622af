package app

import "net/http"

func (a *App) mountAPI(*http.ServeMux) {}
