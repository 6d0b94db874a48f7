package store

import (
	"encoding/base64"
	"strconv"
	"strings"

	"watan"
)

// Cursor paging of the listings keyed on one unique column (an id, a code, a
// provider account, a sequence number). A cursor is a tag naming the listing, a dot
// and the key of the last row of a page, in unpadded base64url: opaque to clients,
// refused by other listings, and harmless in another tenant's hands, since it only
// says where to continue and every query is scoped by the caller's tenant. A walk
// that follows the cursors to the end sees every row that existed when it began
// exactly once, however many rows are added meanwhile.

// MaxPage bounds a page of these listings. It is also the page size of those that
// returned every row before they paged (packages, mappings, provider accounts,
// accounts, code groups, API keys, an order's webhook deliveries) when none is
// asked, so that a tenant with fewer rows still gets them in one response.
const MaxPage = 1000

// DefaultPage is the page size, when none is asked, of the listings that were
// born paged and may be long: a code group's codes and the tenant's webhook
// deliveries.
const DefaultPage = 100

// pageSize returns the page size for a requested limit: def when unset, at most
// MaxPage.
func pageSize(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, MaxPage)
}

func errBadCursor() error { return watan.Errorf(watan.ECodeValidation, "cursor is not valid") }

func encodeCursorKey(tag, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tag + "." + key))
}

// decodeTextCursor returns the key of a cursor of listing tag. The key goes into a
// query, so it must be text both engines can compare: valid UTF-8 without NUL.
func decodeTextCursor(tag, cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	key, ok := strings.CutPrefix(string(b), tag+".")
	if err != nil || !ok || key == "" || watan.ValidateText("cursor", key) != nil {
		return "", errBadCursor()
	}
	return key, nil
}

// decodeIDCursor returns the positive integer key of a cursor of listing tag.
func decodeIDCursor(tag, cursor string) (int64, error) {
	key, err := decodeTextCursor(tag, cursor)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadCursor()
	}
	return id, nil
}

// cutPage trims rows read with a limit of size+1 to size, and returns the cursor of
// the next page if there was one more row: the key of the page's last row.
func cutPage[T any](rows []T, size int, tag string, key func(T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	rows = rows[:size]
	return rows, encodeCursorKey(tag, key(rows[size-1]))
}

func idKey(id int64) string { return strconv.FormatInt(id, 10) }
