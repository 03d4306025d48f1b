// Package web is the node's dashboard: plain HTML, CSS and JavaScript,
// embedded in the binary and served as static files. The page talks to the
// node's local HTTP API (/api/v1) with the token from the data directory's
// api.token, which the user gives once (the URL the node prints carries it
// in its fragment, which never reaches the server).
//
// It is not the API: it holds no data and checks no token; the node mounts
// [Handler] at "/" beside its token-guarded /api/v1.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the dashboard's files: index.html at "/", and app.js,
// style.css beside it. Nothing is fetched from elsewhere (no CDN).
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the dashboard is read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})
}
