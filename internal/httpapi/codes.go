package httpapi

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"watan"
)

type createCodeGroupRequest struct {
	Name string `json:"name" api:"required"`
}

type codeGroupList struct {
	CodeGroups []watan.CodeGroup `json:"code_groups" desc:"in creation order"`
	NextCursor string            `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

type codeList struct {
	Codes      []watan.CodeItem `json:"codes" desc:"in import order; never the PINs themselves"`
	NextCursor string           `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

func (h *Handler) createCodeGroup(w http.ResponseWriter, r *http.Request) error {
	var req createCodeGroupRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	g, err := h.catalog.CreateCodeGroup(r.Context(), tenantOf(r), req.Name)
	if err != nil {
		return fmt.Errorf("creating code group: %w", err)
	}
	w.Header().Set("Location", fmt.Sprintf("%s/code-groups/%d", Prefix, g.ID))
	writeJSON(w, http.StatusCreated, g)
	return nil
}

func (h *Handler) listCodeGroups(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	gs, next, err := h.catalog.ListCodeGroupsPage(r.Context(), tenantOf(r), limit, cursor)
	if err != nil {
		return fmt.Errorf("listing code groups: %w", err)
	}
	if gs == nil {
		gs = []watan.CodeGroup{}
	}
	writeJSON(w, http.StatusOK, codeGroupList{CodeGroups: gs, NextCursor: next})
	return nil
}

// listCodes lists a group's codes, a page at a time, without their PINs: an unused
// PIN is stock not yet sold, which no listing hands out, and a used one is already
// on its order.
func (h *Handler) listCodes(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "code group")
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	status := watan.CodeStatus(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		return invalid("query parameter \"status\" must be available or used, not %q", status)
	}
	cs, next, err := h.catalog.ListCodes(r.Context(), tenantOf(r), id, status, limit, cursor)
	if err != nil {
		return fmt.Errorf("listing codes of group %d: %w", id, err)
	}
	if cs == nil {
		cs = []watan.CodeItem{}
	}
	writeJSON(w, http.StatusOK, codeList{Codes: cs, NextCursor: next})
	return nil
}

func (h *Handler) findCodeGroup(r *http.Request) (watan.CodeGroup, error) {
	id, err := pathID(r, "id", "code group")
	if err != nil {
		return watan.CodeGroup{}, err
	}
	g, err := h.catalog.FindCodeGroup(r.Context(), tenantOf(r), id)
	if err != nil {
		return watan.CodeGroup{}, fmt.Errorf("finding code group %d: %w", id, err)
	}
	return g, nil
}

func (h *Handler) getCodeGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.findCodeGroup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

// importCodes adds PINs to a code group from CSV or JSON lines. The service skips
// (and counts) codes already in the group or repeated in the body, so the response
// adds up to every code the client sent.
func (h *Handler) importCodes(w http.ResponseWriter, r *http.Request) error {
	// The group is found first so that a wrong id is a 404 before a long upload is parsed.
	g, err := h.findCodeGroup(r)
	if err != nil {
		return err
	}
	var cost *watan.Amount
	if c := r.URL.Query().Get("cost"); c != "" {
		a, err := watan.ParseAmount(c)
		if err != nil {
			return invalid("cost: %v", err)
		}
		cost = &a
	}
	pins, err := readCodes(r)
	if err != nil {
		return err
	}
	res, err := h.catalog.ImportCodesCost(r.Context(), g.TenantID, g.ID, pins, cost)
	if err != nil {
		return fmt.Errorf("importing %d codes into group %d: %w", len(pins), g.ID, err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// Media types accepted by importCodes.
var (
	csvTypes       = []string{"text/csv", "text/plain"}
	jsonLinesTypes = []string{"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"}
)

func readCodes(r *http.Request) ([]string, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	var (
		pins []string
		err  error
	)
	switch {
	case slices.Contains(csvTypes, mt):
		pins, err = readCSVCodes(r.Body)
	case slices.Contains(jsonLinesTypes, mt):
		pins, err = readJSONLinesCodes(r.Body)
	default:
		return nil, badRequest("Content-Type must be text/csv (one code per line or in the first column) or application/x-ndjson (JSON lines), not %q", ct)
	}
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, tooLarge(maxErr.Limit)
		}
		return nil, err
	}
	switch {
	case len(pins) == 0:
		return nil, invalid("the body holds no codes")
	case len(pins) > watan.MaxCodesPerBatch:
		return nil, invalid("at most %d codes per request, got %d; split the file", watan.MaxCodesPerBatch, len(pins))
	}
	return pins, nil
}

// readCSVCodes takes the first column of every row. A first row whose first column
// is "pin" or "code" is a header, as spreadsheets export it.
func readCSVCodes(body io.Reader) ([]string, error) {
	cr := csv.NewReader(body)
	cr.FieldsPerRecord = -1 // rows may carry other columns (serials, dates) or none
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	var pins []string
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return pins, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, badRequest("CSV line %d: %v", pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("reading CSV: %w", err)
		}
		pin := ""
		if len(rec) > 0 {
			pin = strings.TrimSpace(rec[0])
		}
		if first {
			first = false
			pin = strings.TrimPrefix(pin, "\uFEFF") // spreadsheet exports start with a BOM
			if h := strings.ToLower(pin); h == "pin" || h == "code" {
				continue
			}
		}
		if pin != "" {
			pins = append(pins, pin)
		}
	}
}

// maxJSONLine bounds one line of a JSON-lines import; no PIN comes near it.
const maxJSONLine = 64 << 10

// readJSONLinesCodes reads one JSON value per line: a string, or an object with a
// "pin" (or "code") field. Blank lines are skipped.
func readJSONLinesCodes(body io.Reader) ([]string, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 4096), maxJSONLine)
	var pins []string
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		pin, err := parseJSONLineCode(b)
		if err != nil {
			// The scanner hands out a cut-off last line when reading fails (e.g. at the
			// size limit): the read error is the real story then.
			if rerr := sc.Err(); rerr != nil {
				return nil, scanError(rerr)
			}
			return nil, badRequest("line %d: %v", line, err)
		}
		if pin = strings.TrimSpace(pin); pin != "" {
			pins = append(pins, pin)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, scanError(err)
	}
	return pins, nil
}

func scanError(err error) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return badRequest("a line is longer than %s", byteSize(maxJSONLine))
	}
	return fmt.Errorf("reading JSON lines: %w", err)
}

func parseJSONLineCode(b []byte) (string, error) {
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", errors.New("not a valid JSON string")
		}
		return s, nil
	case '{':
		var v struct {
			PIN  *string `json:"pin"`
			Code *string `json:"code"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil || dec.More() {
			return "", errors.New(`expected {"pin":"CODE"}`)
		}
		switch {
		case v.PIN != nil:
			return *v.PIN, nil
		case v.Code != nil:
			return *v.Code, nil
		}
		return "", errors.New(`object has no "pin"`)
	}
	return "", errors.New(`expected "CODE" or {"pin":"CODE"}`)
}
