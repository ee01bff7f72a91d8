package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// `keyroll check` of an api_key target: read-only probes with the key in its document,
// reported against the assumptions of docs/design.md ("The API keys", A1–A11).

// roleAssumptions is what a key of one access role is assumed to be allowed (A1, A3).
type roleAssumptions struct {
	manageKeys    bool // list, create and revoke its user's keys: rotate itself (A1)
	readWebhook   bool // GET /webhook (A3)
	manageWebhook bool // PUT /webhook, the test event (A3)
}

// assumedFor is what a key restricted to roleID (0: unrestricted) may do by A1 and A3:
// only an unrestricted key manages keys and the webhook; View Only reads the webhook.
func assumedFor(roleID int) roleAssumptions {
	switch roleID {
	case 0:
		return roleAssumptions{manageKeys: true, readWebhook: true, manageWebhook: true}
	case 102:
		return roleAssumptions{readWebhook: true}
	}
	return roleAssumptions{}
}

// errKeyCannotRotate: the key's role may not manage keys, so it cannot rotate itself.
var errKeyCannotRotate = failure.New(failure.NeedsHuman, "the API key may not manage its user's keys (A1): it cannot rotate itself")

// checkAPIKey probes api_key target t with the key its document d holds and reports
// the key's own description, its user's keys, the roles, the webhook and last_used_date,
// then what the key's role is assumed to allow.
func (a *app) checkAPIKey(ctx context.Context, out *CheckReport, t config.Target, d keyset.Document) error {
	id, err := checkKeyID(a.cfg, t, d)
	if err != nil {
		out.add("api_key", t.Name, false, "%v", err)
		return err
	}
	c, err := a.client(ctx, t)
	if err != nil {
		out.add("api_key", t.Name, false, "digicert: %v", err)
		return err
	}
	keys := certcentral.KeysRotator{Client: c}
	start := time.Now()
	self, err := keys.Key(ctx, id)
	if err != nil {
		out.add("api_key", t.Name, false, "GET /key/%d with the stored key (A2, A5): %v", id, err)
		return fmt.Errorf("target %s: the stored API key does not describe itself: %w", t.Name, err)
	}
	role := roleName(ctx, c, self.RoleID)
	if !self.Active {
		out.add("api_key", t.Name, false, "key %d %q of user %d is %s at DigiCert (A5): store an active key as current", id, self.Name, self.UserID, self.Status)
		return fmt.Errorf("target %s: %w", t.Name, rotate.ErrKeyRejected)
	}
	out.add("api_key", t.Name, true, "key %d %q of user %d: %s, %s, created %s, last used %s (GET /key/%d with itself: A2; its dates parse: A8)",
		id, self.Name, self.UserID, self.Status, role, dateOrDash(self.Created), dateOrDash(self.LastUsed), id)
	var problems []error
	if err := a.checkKeyList(ctx, out, t, d, keys, self); err != nil {
		problems = append(problems, err)
	}
	checkKeyWebhook(ctx, out, t, c, self.RoleID)
	checkLastUsed(ctx, out, t, keys, id, start)
	checkKeyRole(out, t, self.RoleID, role, len(problems) == 0)
	return errors.Join(problems...)
}

// checkKeyID is the id of the document's current key: current_id, else api_key.key_id.
func checkKeyID(cfg *config.Config, t config.Target, d keyset.Document) (int, error) {
	switch {
	case d.Current == "":
		return 0, failure.Wrap(failure.NeedsHuman, fmt.Errorf("target %s: the document holds no API key: store the key as current (CertCentral → Automation → API Keys)", t.Name))
	case d.CurrentID != "":
		id, err := strconv.Atoi(d.CurrentID)
		if err != nil || id <= 0 {
			return 0, failure.Wrap(failure.NeedsHuman, fmt.Errorf("target %s: current_id in the document is not a key id", t.Name))
		}
		return id, nil
	case cfg.APIKeyFor(t).KeyID > 0:
		return cfg.APIKeyFor(t).KeyID, nil
	}
	return 0, failure.Wrap(failure.NeedsHuman, fmt.Errorf("target %s: the id of the API key is unknown: set api_key.key_id or current_id in the document (CertCentral → Automation → API Keys)", t.Name))
}

// checkKeyList lists the key's user's keys (A1, A10, A11): what every rotation's orphan
// sweep needs. A refusal means the key cannot rotate itself.
func (a *app) checkKeyList(ctx context.Context, out *CheckReport, t config.Target, d keyset.Document, keys certcentral.KeysRotator, self rotate.APIKey) error {
	list, err := keys.Keys(ctx, self.UserID)
	if err != nil {
		out.add("api_key_keys", t.Name, false, "GET /key?user_id=%d: %v: by A1 this key may not manage keys, so it cannot rotate itself (an unrestricted key of a user who may manage keys can)", self.UserID, err)
		return fmt.Errorf("target %s: %w: %w", t.Name, errKeyCannotRotate, err)
	}
	active, revoked := 0, 0
	for _, k := range list {
		if k.Active {
			active++
		} else {
			revoked++
		}
	}
	orphans := rotate.Orphans(t.Name, d, list)
	ids := make([]string, len(orphans))
	for i, k := range orphans {
		ids[i] = strconv.Itoa(k.ID)
	}
	msg := fmt.Sprintf("GET /key?user_id=%d: %d key(s) (%d active, %d revoked listed: A10): this key may list its user's keys, so by A1 create and revoke them", self.UserID, len(list), active, revoked)
	if len(orphans) > 0 {
		msg += fmt.Sprintf("; %d active key(s) keyroll made that the document does not hold (%s): the next run revokes them", len(orphans), strings.Join(ids, ", "))
	}
	out.add("api_key_keys", t.Name, true, "%s", msg)
	return nil
}

// checkKeyWebhook reads the webhook with the key (A3): informational, since what the key
// may write cannot be probed without writing.
func checkKeyWebhook(ctx context.Context, out *CheckReport, t config.Target, c *certcentral.Client, roleID int) {
	_, err := c.GetWebhook(ctx, 0)
	var ae *certcentral.APIError
	switch {
	case err == nil:
		out.add("api_key_webhook", t.Name, true, "GET /webhook: 200: this key may read the webhook")
	case errors.As(err, &ae) && ae.Status == 404:
		out.add("api_key_webhook", t.Name, true, "GET /webhook: 404: the account has no webhook; by A3 this key %s", webhookWords(assumedFor(roleID)))
	case errors.As(err, &ae) && ae.CredentialsRejected():
		out.add("api_key_webhook", t.Name, true, "GET /webhook: %d: this key may not read the webhook", ae.Status)
	default:
		out.add("api_key_webhook", t.Name, true, "GET /webhook: %v", err)
	}
}

// checkLastUsed reads the key again (A7): its last_used_date must show the first read of
// this check, to the second; a coarser or stale date would let a consumer of an old key
// go unseen by the in-use check.
func checkLastUsed(ctx context.Context, out *CheckReport, t config.Target, keys certcentral.KeysRotator, id int, start time.Time) {
	again, err := keys.Key(ctx, id)
	switch {
	case err != nil:
		out.add("api_key_last_used", t.Name, true, "warning: GET /key/%d again: %v: last_used_date not checked (A7)", id, err)
	case again.LastUsed.IsZero():
		out.add("api_key_last_used", t.Name, true, "warning: last_used_date absent after a use (A7): the in-use check cannot see a consumer of an old key")
	case again.LastUsed.Equal(again.LastUsed.UTC().Truncate(24*time.Hour)) && start.UTC().Sub(start.UTC().Truncate(24*time.Hour)) > time.Minute:
		out.add("api_key_last_used", t.Name, true, "warning: last_used_date %s is a day, not a time (A7): the in-use check could miss a consumer; raise api_key.grace above a day", dateOrDash(again.LastUsed))
	case again.LastUsed.Before(start.Add(-5 * time.Minute)):
		out.add("api_key_last_used", t.Name, true, "warning: last_used_date %s is older than this check's first read at %s (A7: updated on each use?)", dateOrDash(again.LastUsed), dateOrDash(start))
	default:
		out.add("api_key_last_used", t.Name, true, "last_used_date %s follows each use, to the second (A7)", dateOrDash(again.LastUsed))
	}
}

// checkKeyRole states what the key's role is assumed to allow (A1, A3, A4) and whether
// the probes agree.
func checkKeyRole(out *CheckReport, t config.Target, roleID int, role string, listed bool) {
	as := assumedFor(roleID)
	keys := "may not manage keys: it cannot rotate itself"
	if as.manageKeys {
		keys = "may create and revoke its user's keys (rotate itself; it never needs to revoke itself: A4)"
	}
	ok := as.manageKeys == listed
	msg := fmt.Sprintf("%s: by A1 this key %s; by A3 it %s", role, keys, webhookWords(as))
	if !ok {
		msg += "; the key list answered otherwise than A1 assumes for this role: see docs/design.md, \"The API keys\""
	}
	out.add("api_key_role", t.Name, listed, "%s", msg)
}

// webhookWords says what A3 lets a key do with the webhook.
func webhookWords(as roleAssumptions) string {
	switch {
	case as.manageWebhook:
		return "may read and manage the webhook"
	case as.readWebhook:
		return "may read the webhook, not change it (a webhook target needs an unrestricted key)"
	}
	return "may neither read nor manage the webhook"
}

// roleName names role roleID from GET /key/api-roles ("unrestricted" for 0).
func roleName(ctx context.Context, c *certcentral.Client, roleID int) string {
	roles, err := c.AccessRoles(ctx)
	if roleID == 0 {
		return "unrestricted"
	}
	if err == nil {
		for _, r := range roles {
			if r.ID == roleID {
				return fmt.Sprintf("role %d %q", roleID, r.Name)
			}
		}
	}
	return fmt.Sprintf("role %d", roleID)
}

func dateOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
