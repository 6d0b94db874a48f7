package znet

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"watan"
	"watan/internal/upstream"
)

// Explanations of failed calls. The *watan.ProviderError a call returns wraps one
// of them, so errors.Is tells callers (and "watan provider check") what went wrong.
var (
	// ErrEmptyAnswer is znet's answer when the dealer is unknown, the API is off
	// for it, or the caller's IP is not whitelisted.
	ErrEmptyAnswer = errors.New("empty answer: the API is off for this dealer, the dealer code or password is wrong, or this server's IP is not whitelisted")
	// ErrHTMLAnswer means the request reached a web page, not the API.
	ErrHTMLAnswer = errors.New("HTML page: wrong base URL or blocked IP")
	// ErrRefused is a code 8 answer (or any non-JSON catalog): the provider will not
	// serve this account until someone fixes it at the provider's side.
	ErrRefused = errors.New("refused by the provider (check the API permission, the IP whitelist, the credentials and the balance)")
	// ErrHTTPStatus is an HTTP status other than 200.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrUnexpected is an answer outside the protocol.
	ErrUnexpected = errors.New("unexpected answer")
)

// Operation names, as reported in watan.ProviderError.Op.
const (
	opPlace   = "place"
	opCheck   = "check"
	opBalance = "balance"
	opCatalog = "catalog"
)

// currency of every znet amount.
const currency = "TRY"

// unexpected reports an answer the parser could not use. Only text in znet's own
// "code|…" shape is quoted: an answer in any other shape may come from whatever a
// base URL points at, and quoting it would read that back to the tenant.
func unexpected(op, text string) *watan.ProviderError {
	if !pipeShaped(text) {
		return upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrUnexpected, "an answer of %d bytes not in znet's format", len(text)))
	}
	return upstream.Fail(op, watan.FailProtocol, upstream.Detailf(ErrUnexpected, "%q", upstream.Truncate(text, 200)))
}

// pipeShaped reports text that starts as znet answers do: "OK|" or a number and "|".
func pipeShaped(text string) bool {
	code, _, ok := strings.Cut(text, "|")
	if !ok || code == "" {
		return false
	}
	return code == "OK" || strings.Trim(code, "0123456789") == ""
}

func refused(op, text string) *watan.ProviderError {
	return upstream.Fail(op, watan.FailMisconfigured, upstream.Detailf(ErrRefused, "%q", upstream.Truncate(text, 200)))
}

// answerText returns the text of a "|"-separated answer, or the misconfiguration
// signal that an empty body or an HTML page is.
func answerText(op string, body []byte) (string, error) {
	text := normalize(body)
	switch {
	case text == "":
		return "", upstream.Fail(op, watan.FailMisconfigured, ErrEmptyAnswer)
	case strings.HasPrefix(text, "<"):
		// "<!DOCTYPE html>", "<html>", and PHP's "<br />\n<b>Warning</b>" all mean
		// the API did not answer.
		return "", upstream.Fail(op, watan.FailMisconfigured, ErrHTMLAnswer)
	}
	return text, nil
}

// splitCode splits "CODE|rest" into the upper-cased code and the trimmed rest. A
// numeric code without its "|" is not taken for one: "3" alone is no refusal.
func splitCode(text string) (code, rest string) {
	code, rest, sep := strings.Cut(text, "|")
	code = strings.ToUpper(strings.TrimSpace(code))
	if !sep && code != "OK" {
		return "", text
	}
	return code, strings.TrimSpace(rest)
}

// parseBalance reads a bakiye_kontrol.php answer: "OK|12755.23".
func parseBalance(body []byte) (watan.Balance, error) {
	text, err := answerText(opBalance, body)
	if err != nil {
		return watan.Balance{}, err
	}
	code, rest := splitCode(text)
	switch {
	case code == "OK" && isNumber(fields(rest, 2)[0]):
		return watan.Balance{Amount: fields(rest, 2)[0], Currency: currency}, nil
	case code == "8":
		return watan.Balance{}, refused(opBalance, rest)
	}
	return watan.Balance{}, unexpected(opBalance, text)
}

// parsePlace classifies a pin_ekle.php answer.
//
// Every answer that may mean "an order with this referans exists" is PlaceUnknown,
// because the engine then checks the same referans instead of placing again; only
// an explicit refusal (code 3) is PlaceRejected.
func parsePlace(body []byte) (watan.PlaceResult, error) {
	unknown := watan.PlaceResult{Outcome: watan.PlaceUnknown}
	text, err := answerText(opPlace, body)
	if err != nil {
		return unknown, err
	}
	code, rest := splitCode(text)
	if alreadySent(fold(text)) {
		// Typically our own earlier attempt: net/http re-sends a GET once when a
		// kept-alive connection drops before the reply, and znet answers the
		// second copy with "already sent".
		return watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: rest}, nil
	}
	switch code {
	case "OK":
		res := watan.PlaceResult{Outcome: watan.PlaceAccepted}
		f := fields(rest, 3)
		if isNumber(f[0]) {
			res.Cost = f[0]
		}
		if len(f) > 1 && isNumber(f[1]) {
			res.Balance = f[1]
		}
		return res, nil
	case "3":
		return watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: rejectReason(fold(rest)), Message: rest}, nil
	case "8":
		// Code 8 is "connection problem or insufficient balance": the account, not
		// the order, is at fault. It is reported as the misconfiguration signal so
		// that dispatch to the account pauses, and as unknown so that the engine
		// confirms with a check that no order exists before going elsewhere.
		unknown.Message = rest
		return unknown, refused(opPlace, rest)
	}
	return unknown, unexpected(opPlace, text)
}

// alreadySent reports whether folded text says that this referans was sent before:
// "4|Daha Önce Gönderilmiş (166189)", "8|Bu İşlem Daha Önce Gönderildi".
func alreadySent(folded string) bool {
	return containsAny(folded, "daha once gonder", "daha once kullan", "zaten gonder",
		"mukerrer", "already", "duplicate")
}

// rejectReason classifies the text of a refusal. Stock comes before balance because
// "yetersiz stok" (insufficient stock) is about the product.
func rejectReason(folded string) watan.RejectReason {
	switch {
	case containsAny(folded, "stok", "stock", "tukendi"):
		return watan.ReasonProductUnavailable
	case containsAny(folded, "bakiye", "balance", "yetersiz", "insufficient"):
		return watan.ReasonOutOfBalance
	case containsAny(folded, "kupur", "urun", "oyun bulunamad", "product", "pasif", "aktif degil"):
		return watan.ReasonProductUnavailable
	case containsAny(folded, "oyuncu", "player"):
		return watan.ReasonBadInput
	}
	return watan.ReasonOther
}

// parseCheck classifies a pin_kontrol.php answer. The result's Ref is left for the
// caller to fill.
func parseCheck(body []byte) (watan.CheckResult, error) {
	text, err := answerText(opCheck, body)
	if err != nil {
		return watan.CheckResult{}, err
	}
	code, rest := splitCode(text)
	switch code {
	case "OK":
		f := fields(rest, 3) // state | PIN | description
		if len(f) < 2 {
			return watan.CheckResult{}, unexpected(opCheck, text)
		}
		desc := ""
		if len(f) > 2 {
			desc = f[2]
		}
		switch f[0] {
		case "1":
			return watan.CheckResult{Outcome: watan.CheckPending, Message: desc}, nil
		case "2":
			// State 2 is the provider's word that the order is complete, and that is
			// the evidence delivery needs. Products that load the game account
			// directly ("Oyun otomatik olarak yüklenir") complete with no code, so a
			// placeholder in the PIN field gives a delivery without a PIN, never
			// the placeholder as a PIN.
			pin := f[1]
			if isPlaceholderPIN(pin) {
				pin = ""
			}
			return watan.CheckResult{Outcome: watan.CheckDelivered, PIN: pin, Message: desc}, nil
		case "3":
			return watan.CheckResult{Outcome: watan.CheckFailed, Message: desc}, nil
		}
		return watan.CheckResult{Outcome: watan.CheckUnknown, Message: text}, nil
	case "3":
		if notFound(fold(rest)) {
			return watan.CheckResult{Outcome: watan.CheckNotFound, Message: rest}, nil
		}
		return watan.CheckResult{Outcome: watan.CheckUnknown, Message: rest}, nil
	case "8":
		return watan.CheckResult{}, refused(opCheck, rest)
	}
	return watan.CheckResult{}, unexpected(opCheck, text)
}

// notFound reports whether folded text clearly says that the order does not exist.
// It is strict because "not found" lets the engine place the order again: a text
// about the dealer, the product or the credentials ("Kullanıcı bulunamadı") is
// not about the order.
func notFound(folded string) bool {
	if !containsAny(folded, "bulunamad", "not found", "mevcut degil", "no such") {
		return false
	}
	return !containsAny(folded, "kullanici", "bayi", "kupur", "urun", "oyun bilgi", "user", "dealer",
		"product", "yetki", "sifre", "password", "baglanti", "api key")
}

// catalogItem is one pin_listesi.php product. Every field arrives as a string, but
// numbers are accepted too.
type catalogItem struct {
	ID          flexString `json:"id"`
	Name        flexString `json:"adi"`
	Description flexString `json:"aciklama"`
	GameID      flexString `json:"oyun_id"`
	GameName    flexString `json:"oyun_adi"`
	Price       flexString `json:"fiyat"`
	Kupur       flexString `json:"kupur"`
	OyunBilgiID flexString `json:"oyun_bilgi_id"`
}

// parseCatalog reads a pin_listesi.php answer.
func parseCatalog(body []byte) ([]watan.Product, error) {
	text := normalize(body)
	switch {
	case text == "":
		return nil, upstream.Fail(opCatalog, watan.FailMisconfigured, ErrEmptyAnswer)
	case strings.HasPrefix(text, "<"):
		return nil, upstream.Fail(opCatalog, watan.FailMisconfigured, ErrHTMLAnswer)
	case !strings.HasPrefix(text, "{"):
		// The catalog is the one JSON service: text here is an authentication or
		// IP refusal such as "8|Bağlantı Hatası…".
		_, rest := splitCode(text)
		if rest == "" {
			rest = text
		}
		return nil, refused(opCatalog, rest)
	}
	var answer struct {
		Success flexBool        `json:"success"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(text), &answer); err != nil {
		return nil, upstream.Fail(opCatalog, watan.FailProtocol, upstream.Detailf(ErrUnexpected, "%v", err))
	}
	if !answer.Success {
		return nil, refused(opCatalog, rawText(answer.Error))
	}
	var items []catalogItem
	if r := bytes.TrimSpace(answer.Result); len(r) > 0 && !bytes.Equal(r, []byte("null")) {
		if err := json.Unmarshal(r, &items); err != nil {
			return nil, upstream.Fail(opCatalog, watan.FailProtocol, upstream.Detailf(ErrUnexpected, "result: %v", err))
		}
	}
	products := make([]watan.Product, 0, len(items))
	for _, it := range items {
		products = append(products, watan.Product{
			ID:          string(it.ID),
			Name:        string(it.Name),
			Description: string(it.Description),
			Price:       string(it.Price),
			Category:    string(it.GameName),
			Available:   true, // znet lists only what it sells
			Params:      map[string]string{ParamOyun: string(it.OyunBilgiID), ParamKupur: string(it.Kupur)},
			QtyKind:     "fixed",
			QtyMin:      1,
			QtyMax:      1,
		})
	}
	return products, nil
}

// rawText renders a JSON value of unknown shape (a string, an object, null) as
// text for a message.
func rawText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	if t := strings.TrimSpace(string(raw)); t != "" && t != "null" {
		return t
	}
	return "no reason given"
}

// flexString decodes a JSON string, number or boolean as text.
type flexString = upstream.FlexString

// flexBool decodes true, 1, "true" or "1" as true.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(string(s)) {
	case "true", "1", "yes":
		*f = true
	default:
		*f = false
	}
	return nil
}
