package dashboard

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"watan"
	"watan/internal/store"
)

// The team page: a tenant's admins add operators, disable and enable them, reset
// their passwords, and create and revoke the tenant's API keys. Passwords and keys
// are shown once, on the page that answers the action; only their hashes are kept.

type teamData struct {
	Users  []store.User
	Keys   []watan.APIKey
	Me     int64
	Secret *teamSecret
}

// teamSecret is a password or key shown once.
type teamSecret struct {
	Title string
	Value string
}

// admin answers 403 unless the signed-in user is one of the tenant's admins.
func (h *Handler) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := sessionOf(r)
		if !s.User.IsAdmin() {
			h.fail(w, r, s, http.StatusForbidden, tr(s.User.Lang, "team.admins_only"))
			return
		}
		next(w, r)
	}
}

func (h *Handler) team(w http.ResponseWriter, r *http.Request) { h.showTeam(w, r, nil) }

func (h *Handler) showTeam(w http.ResponseWriter, r *http.Request, secret *teamSecret) {
	s := sessionOf(r)
	tid := s.User.TenantID
	us, err := h.store.ListUsers(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	ks, err := h.store.ListAPIKeys(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	h.render(w, r, s, http.StatusOK, "team", "title.team", teamData{Users: us, Keys: ks, Me: s.User.ID, Secret: secret})
}

// userCost is the bcrypt cost of passwords set here; tests lower it.
var userCost = bcrypt.DefaultCost

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := watan.ValidateIdentifier("name", name); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	password := rand.Text()
	u, err := h.store.CreateUserWithRole(r.Context(), s.User.TenantID, name, password, r.PostFormValue("lang"), r.PostFormValue("role"), userCost)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	h.log.Info("dashboard: user created", "tenant_id", s.User.TenantID, "user", u.Name, "role", u.Role, "by", s.User.Name)
	h.showTeam(w, r, &teamSecret{Title: fmt.Sprintf(tr(s.User.Lang, "team.new_password"), u.Name), Value: password})
}

func (h *Handler) userAction(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	tid := s.User.TenantID
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no user %q", r.PathValue("id")))
		return
	}
	var target store.User
	us, err := h.store.ListUsers(r.Context(), tid)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	for _, u := range us {
		if u.ID == id {
			target = u
		}
	}
	if target.ID == 0 {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no user %d", id))
		return
	}
	switch action := r.PathValue("action"); action {
	case "disable", "enable":
		if id == s.User.ID {
			h.fail(w, r, s, http.StatusConflict, tr(s.User.Lang, "err.self"))
			return
		}
		if err := h.store.SetUserDisabled(r.Context(), tid, id, action == "disable"); err != nil {
			h.failErr(w, r, s, err)
			return
		}
		h.log.Info("dashboard: user "+action+"d", "tenant_id", tid, "user", target.Name, "by", s.User.Name)
		http.Redirect(w, r, "/team?done=user_"+action+"d", http.StatusSeeOther)
	case "reset":
		password := rand.Text()
		if err := h.store.SetUserPassword(r.Context(), tid, id, password); err != nil {
			h.failErr(w, r, s, err)
			return
		}
		h.log.Info("dashboard: password reset", "tenant_id", tid, "user", target.Name, "by", s.User.Name)
		if id == s.User.ID {
			// A new password ends the user's sessions, this one included.
			h.setCookie(w, r, sessionCookie, "", -1)
		}
		h.showTeam(w, r, &teamSecret{Title: fmt.Sprintf(tr(s.User.Lang, "team.new_password"), target.Name), Value: password})
	default:
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no action %q", action))
	}
}

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := watan.ValidateText("name", name); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	k, plain, err := h.store.CreateAPIKey(r.Context(), s.User.TenantID, name)
	if err != nil {
		h.failErr(w, r, s, err)
		return
	}
	h.log.Info("dashboard: API key created", "tenant_id", s.User.TenantID, "key_id", k.ID, "by", s.User.Name)
	h.showTeam(w, r, &teamSecret{Title: fmt.Sprintf(tr(s.User.Lang, "team.new_key"), k.Name), Value: plain})
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.failErr(w, r, s, watan.Errorf(watan.ECodeNotFound, "no API key %q", r.PathValue("id")))
		return
	}
	if _, err := h.store.RevokeAPIKey(r.Context(), s.User.TenantID, id); err != nil {
		h.failErr(w, r, s, err)
		return
	}
	h.log.Info("dashboard: API key revoked", "tenant_id", s.User.TenantID, "key_id", id, "by", s.User.Name)
	http.Redirect(w, r, "/team?done=key_revoked", http.StatusSeeOther)
}
