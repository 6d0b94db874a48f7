package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watan"
)

func TestDecodeJSON(t *testing.T) {
	type inner struct {
		Price *amount `json:"price"`
	}
	type body struct {
		Quantity int               `json:"quantity"`
		PlayerID string            `json:"player_id"`
		Price    amount            `json:"price"`
		Wait     *duration         `json:"wait"`
		Params   map[string]string `json:"params"`
		Inner    inner             `json:"inner"`
	}
	tests := []struct {
		name, body, contentType string
		code                    string // "" for success
		msg                     string // substring of the message
	}{
		{name: "ok", body: `{"quantity":2,"player_id":"p","price":"12.50","wait":"30s","params":{"a":"b"}}`},
		{name: "ok number amount", body: `{"price":12.5}`},
		{name: "ok trailing whitespace", body: "{\"quantity\":1}\n\t "},
		{name: "ok json suffix type", body: `{}`, contentType: "application/vnd.watan+json"},
		{name: "ok null amount", body: `{"price":null,"wait":null}`},
		{name: "empty", body: ``, code: watan.ECodeBadRequest, msg: "empty"},
		{name: "not json", body: `quantity=1`, code: watan.ECodeBadRequest, msg: "not valid JSON"},
		{name: "truncated", body: `{"quantity":`, code: watan.ECodeBadRequest, msg: "ends in the middle"},
		{name: "unknown field", body: `{"quantity":1,"qty":2}`, code: watan.ECodeBadRequest, msg: `unknown field "qty"`},
		{name: "string for int", body: `{"quantity":"2"}`, code: watan.ECodeBadRequest, msg: `field "quantity" must be an integer, not string`},
		{name: "float for int", body: `{"quantity":1.5}`, code: watan.ECodeBadRequest, msg: `field "quantity" must be an integer`},
		{name: "number for string", body: `{"player_id":5}`, code: watan.ECodeBadRequest, msg: `field "player_id" must be a string`},
		{name: "bad map value", body: `{"params":{"a":1}}`, code: watan.ECodeBadRequest, msg: `field "params" must be a string`},
		{name: "bad amount", body: `{"price":"12.345"}`, code: watan.ECodeBadRequest, msg: `field "price": amount "12.345" has more than two decimal places`},
		{name: "amount not a number", body: `{"price":"abc"}`, code: watan.ECodeBadRequest, msg: `field "price"`},
		{name: "amount bool", body: `{"price":true}`, code: watan.ECodeBadRequest, msg: `field "price": expected a decimal amount`},
		{name: "nested amount", body: `{"inner":{"price":"x"}}`, code: watan.ECodeBadRequest, msg: `field "inner.price"`},
		{name: "bad duration", body: `{"wait":"soon"}`, code: watan.ECodeBadRequest, msg: `field "wait": expected a duration`},
		{name: "number duration", body: `{"wait":30}`, code: watan.ECodeBadRequest, msg: `field "wait"`},
		{name: "array body", body: `[1]`, code: watan.ECodeBadRequest, msg: "request body must be an object in JSON, not array"},
		{name: "two values", body: `{"quantity":1}{"quantity":2}`, code: watan.ECodeBadRequest, msg: "single JSON value"},
		{name: "trailing garbage", body: `{"quantity":1} xyz`, code: watan.ECodeBadRequest, msg: "single JSON value"},
		{name: "form content type", body: `{}`, contentType: "application/x-www-form-urlencoded", code: watan.ECodeBadRequest, msg: "Content-Type must be application/json"},
		{name: "oversized", body: `{"player_id":"` + strings.Repeat("x", 200) + `"}`, code: watan.ECodeTooLarge, msg: "larger than 100 bytes"},
		{name: "oversized after value", body: `{"quantity":1}` + strings.Repeat(" ", 90) + "xx", code: watan.ECodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			r.Header.Set("Content-Type", ct)
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 100)
			var dst body
			err := decodeJSON(r, &dst)
			if got := watan.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (err %v)", got, tt.code, err)
			}
			if msg := watan.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
		})
	}
}

func TestDecodeJSONExactAmounts(t *testing.T) {
	for in, want := range map[string]watan.Amount{
		`{"price":"12.50"}`:         1250,
		`{"price":12.5}`:            1250,
		`{"price":0.07}`:            7,
		`{"price":"1000"}`:          100000,
		`{"price":99999999999.99}`:  9999999999999,
		`{"price":"-3"}`:            -300,
		`{"price":1234567890.12}`:   123456789012,
		`{"price":"0.1"}`:           10,
		`{"price":100000000000.01}`: 10000000000001,
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(in))
		var dst struct {
			Price amount `json:"price"`
		}
		if err := decodeJSON(r, &dst); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := watan.Amount(dst.Price); got != want {
			t.Errorf("%s: got %d, want %d", in, got, want)
		}
	}
}

func TestReadCodes(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           []string
		code           string
	}{
		{name: "csv lines", ct: "text/csv", body: "AAA\nBBB\r\n\nCCC\n", want: []string{"AAA", "BBB", "CCC"}},
		{name: "csv header pin", ct: "text/csv; charset=utf-8", body: "pin,serial\nAAA,1\n BBB ,2\n", want: []string{"AAA", "BBB"}},
		{name: "csv header code with BOM", ct: "text/csv", body: "\uFEFFCode\nAAA\n", want: []string{"AAA"}},
		{name: "csv quoted", ct: "text/csv", body: "\"A,B\",x\n", want: []string{"A,B"}},
		{name: "plain text", ct: "text/plain", body: "AAA\nBBB", want: []string{"AAA", "BBB"}},
		{name: "jsonl strings and objects", ct: "application/x-ndjson", body: "\"AAA\"\n{\"pin\":\"BBB\"}\n\n{\"code\":\"CCC\"}\n", want: []string{"AAA", "BBB", "CCC"}},
		{name: "jsonl type", ct: "application/jsonl", body: `"AAA"`, want: []string{"AAA"}},
		{name: "jsonl bad line", ct: "application/x-ndjson", body: "\"AAA\"\n42\n", code: watan.ECodeBadRequest},
		{name: "jsonl unknown field", ct: "application/x-ndjson", body: `{"pin":"A","x":1}`, code: watan.ECodeBadRequest},
		{name: "jsonl broken string", ct: "application/x-ndjson", body: `"AAA`, code: watan.ECodeBadRequest},
		{name: "empty", ct: "text/csv", body: "pin\n\n", code: watan.ECodeValidation},
		{name: "json is not accepted", ct: "application/json", body: `["A"]`, code: watan.ECodeBadRequest},
		{name: "no content type", ct: "", body: "AAA", code: watan.ECodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			got, err := readCodes(r)
			if code := watan.ErrorCode(err); code != tt.code {
				t.Fatalf("code = %q, want %q (err %v)", code, tt.code, err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadCodesTooLarge(t *testing.T) {
	for _, ct := range []string{"text/csv", "application/x-ndjson"} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("\"ABCDEFGH\"\n", 100)))
		r.Header.Set("Content-Type", ct)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 500)
		if _, err := readCodes(r); watan.ErrorCode(err) != watan.ECodeTooLarge {
			t.Errorf("%s: got %v, want payload_too_large", ct, err)
		}
	}
}
