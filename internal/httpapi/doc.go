// Package httpapi serves watan's JSON API under /api/v1 for storefront backends and
// management tools.
//
// Every route is declared once, in the table returned by (*Handler).routes: the stdlib
// ServeMux dispatches from it, the OpenAPI document at /api/v1/openapi.json is built
// from it, and the tests walk it. Handlers share one rhythm: decode the request,
// validate what only the API knows, call one domain service, respond. Failures are
// *watan.Error values whose stable code maps to an HTTP status in one table
// (statusByCode); any other error is logged and reported as "internal" without detail.
//
// Every route but the OpenAPI document requires "Authorization: Bearer <api key>"; the
// key's tenant scopes every call, so one tenant's key sees another tenant's rows as
// not found.
//
// Operators' actions on orders (approve, reject, re-dispatch, set manual, check now)
// and on provider accounts (resume) are served only when Config.Operator is set; the
// order's timeline records the API key that acted as operator:api-key:<key name>.
//
// The package holds no SQL: it talks to the domain service interfaces only.
package httpapi
