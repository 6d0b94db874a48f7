package providertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"watan"
)

// DefaultBarakatToken is the api-token a barakat simulator accepts unless
// BarakatOptions say otherwise.
const DefaultBarakatToken = "sim-token"

// BarakatProduct is one product of a simulated barakat catalog. Its quantity is
// fixed (one) unless QtyMax (a range) or QtyValues (a set) is given.
type BarakatProduct struct {
	ID          string
	Name        string
	Category    string
	Price       watan.Amount // per unit
	Available   bool
	Params      []string // customer inputs the product requires
	ProductType string   // "package" or "amount"
	QtyMin      int
	QtyMax      int
	QtyValues   []string
}

// DefaultBarakatProducts is providers.md §2.2's product plus one of each quantity
// kind and an unavailable one.
func DefaultBarakatProducts() []BarakatProduct {
	return []BarakatProduct{
		{ID: "12345", Name: "PUBG Mobile 60 UC", Category: "PUBG Mobile", Price: 45_50, Available: true, Params: []string{"uid", "server"}, ProductType: "package"},
		{ID: "12346", Name: "Free Fire Diamonds", Category: "Free Fire", Price: 10, Available: true, Params: []string{"uid"}, ProductType: "amount", QtyMin: 100, QtyMax: 10000},
		{ID: "12347", Name: "Google Play Gift Card", Category: "Gift Cards", Price: 1_00, Available: true, Params: []string{}, ProductType: "package", QtyValues: []string{"10", "20", "50"}},
		{ID: "12348", Name: "Legacy Pack", Category: "PUBG Mobile", Price: 99_00, Available: false, Params: []string{"uid"}, ProductType: "package"},
	}
}

// BarakatOptions configure a barakat simulator.
type BarakatOptions struct {
	Options
	// Token is the api-token it accepts; anything else gets HTTP 401. Default
	// DefaultBarakatToken.
	Token string
	// Products is the catalog. Default DefaultBarakatProducts.
	Products []BarakatProduct
	// AtPlacementRate is the chance that an order to be delivered is delivered in
	// the placement answer itself.
	AtPlacementRate float64
	// RequireUUID makes it refuse an order_uuid that is not a UUID, at placement
	// and in checks by uuid, as a store enforcing UUIDs would.
	RequireUUID bool
}

// Barakat is a simulated barakat/apstore API: GET /client/api/{profile, products,
// newOrder/{id}/params, check}, answered as providers.md §2 describes. Each order
// uses one of the protocol's equivalent wordings (status words, PIN field names,
// note or replay_api), chosen by the seed, so that clients meet them all.
type Barakat struct {
	*sim
	token    string
	products []BarakatProduct
	atRate   float64
	uuidOnly bool
}

// NewBarakat returns a barakat simulator. Serve it with Start, or mount Handler.
func NewBarakat(o BarakatOptions) *Barakat {
	b := &Barakat{sim: newSim("barakat", o.Options, 67890), token: o.Token, products: o.Products, atRate: o.AtPlacementRate,
		uuidOnly: o.RequireUUID}
	if b.token == "" {
		b.token = DefaultBarakatToken
	}
	if b.products == nil {
		b.products = DefaultBarakatProducts()
	}
	return b
}

// StartBarakat starts a barakat simulator on a loopback port for the duration of a
// test.
func StartBarakat(tb TB, o BarakatOptions) *Barakat {
	tb.Helper()
	b := NewBarakat(o)
	listenLoopback(tb, b.Start, b.Close)
	return b
}

// Start serves the simulator on l until Close; URL then returns its base URL.
func (b *Barakat) Start(l net.Listener) { b.start(l, b.Handler()) }

// Handler serves the protocol at /client/api/…; mount it under a prefix with
// http.StripPrefix to share a server.
func (b *Barakat) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /client/api/profile", b.endpoint(OpBalance, b.profileAnswer))
	mux.HandleFunc("GET /client/api/products", b.endpoint(OpCatalog, b.productsAnswer))
	mux.HandleFunc("GET /client/api/newOrder/{id}/params", b.endpoint(OpPlace, b.placeAnswer))
	mux.HandleFunc("GET /client/api/check", b.endpoint(OpCheck, b.checkAnswer))
	mux.HandleFunc("/", b.endpoint(OpUnknown, func(*http.Request) response {
		return jsonAnswer(http.StatusNotFound, map[string]any{"message": "Not Found"})
	}))
	return mux
}

func (b *Barakat) endpoint(op Op, answer func(*http.Request) response) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("api-token")
		ok := tok == b.token
		b.serve(w, r, op, ok, redactQuery(r.URL.Query()), func() response {
			switch {
			case tok == "":
				return jsonAnswer(http.StatusUnauthorized, map[string]any{"status": "ERROR", "code": 120, "message": "Api Token is required!"})
			case !ok:
				return jsonAnswer(http.StatusUnauthorized, map[string]any{"status": "ERROR", "message": "Unauthorized: invalid token"})
			}
			return answer(r)
		})
	}
}

func jsonAnswer(status int, v any) response {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings, numbers and slices always marshal
	}
	return response{status, contentJSON, string(body)}
}

func failure(message string) response {
	return jsonAnswer(http.StatusOK, map[string]any{"status": "ERROR", "message": message, "error": message})
}

func (b *Barakat) profileAnswer(*http.Request) response {
	b.mu.Lock()
	defer b.mu.Unlock()
	return jsonAnswer(http.StatusOK, map[string]any{"balance": b.balance.String(), "email": "sim@example.com"})
}

func (b *Barakat) productsAnswer(*http.Request) response {
	list := make([]map[string]any, 0, len(b.products))
	for _, p := range b.products {
		var qty any // null: fixed
		switch {
		case p.QtyMax > 0:
			qty = map[string]any{"min": p.QtyMin, "max": p.QtyMax}
		case p.QtyValues != nil:
			qty = p.QtyValues
		}
		params := p.Params
		if params == nil {
			params = []string{}
		}
		list = append(list, map[string]any{
			"id": p.ID, "name": p.Name, "price": p.Price.String(), "category_name": p.Category,
			"available": p.Available, "params": params, "product_type": p.ProductType, "qty_values": qty,
		})
	}
	return jsonAnswer(http.StatusOK, list)
}

func (b *Barakat) product(id string) *BarakatProduct {
	for i := range b.products {
		if b.products[i].ID == id {
			return &b.products[i]
		}
	}
	return nil
}

func (b *Barakat) placeAnswer(r *http.Request) response {
	q := r.URL.Query()
	ref := strings.TrimSpace(q.Get("order_uuid"))
	b.mu.Lock()
	defer b.mu.Unlock()
	if ref == "" {
		return failure("The order uuid field is required.")
	}
	if b.uuidOnly && !isUUID(ref) {
		return failure(uuidRefusal)
	}
	b.placements[ref]++
	if o := b.orders[ref]; o != nil {
		// order_uuid is an idempotency key: a repeat gets the existing order.
		b.settle(o)
		return jsonAnswer(http.StatusOK, map[string]any{"status": "OK", "data": b.item(o)})
	}
	p := b.product(r.PathValue("id"))
	if p == nil {
		return failure("Product not found")
	}
	if !p.Available {
		return failure("Product is not available")
	}
	qty, err := strconv.Atoi(q.Get("qty"))
	if err != nil || !p.allows(qty) {
		return failure("Invalid quantity")
	}
	params := map[string]string{}
	for k, v := range q {
		if k != "qty" && k != "order_uuid" && len(v) > 0 {
			params[k] = v[0]
		}
	}
	for _, name := range p.Params {
		if strings.TrimSpace(params[name]) == "" {
			return failure(fmt.Sprintf("The %s field is required.", name))
		}
	}
	price, ok := p.Price.Mul(qty)
	if !ok || price > b.balance {
		return jsonAnswer(http.StatusOK, map[string]any{"status": "ERROR", "code": 100, "message": "Insufficient balance"})
	}
	o := b.create(ref, p.ID, params, qty, price, b.atRate)
	return jsonAnswer(http.StatusOK, map[string]any{"status": "OK", "data": b.item(o)})
}

// uuidRefusal is what a store enforcing UUIDs answers to any other order_uuid.
const uuidRefusal = "The order uuid must be a valid UUID."

// isUUID reports whether s is a UUID in its canonical text form.
func isUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u.String() == strings.ToLower(s)
}

func (p *BarakatProduct) allows(qty int) bool {
	switch {
	case qty < 1:
		return false
	case p.QtyMax > 0:
		return qty >= p.QtyMin && qty <= p.QtyMax
	case p.QtyValues != nil:
		return slices.Contains(p.QtyValues, strconv.Itoa(qty))
	}
	return qty == 1
}

func (b *Barakat) checkAnswer(r *http.Request) response {
	q := r.URL.Query()
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(q.Get("orders")), &raw); err != nil {
		return failure("The orders field must be a JSON array.")
	}
	if len(raw) > 100 {
		return failure("Too many orders: at most 100 per request.")
	}
	byUUID := q.Get("uuid") == "1"
	b.mu.Lock()
	defer b.mu.Unlock()
	data := []map[string]any{}
	for _, v := range raw {
		var id string
		if err := json.Unmarshal(v, &id); err != nil {
			id = string(v) // a bare number
		}
		o := b.byID[id]
		if byUUID {
			if b.uuidOnly && !isUUID(id) {
				return failure(uuidRefusal)
			}
			o = b.orders[id]
		}
		if o == nil {
			continue // unknown ids are simply absent
		}
		b.settle(o)
		data = append(data, b.item(o))
	}
	return jsonAnswer(http.StatusOK, map[string]any{"status": "OK", "data": data})
}

// Wordings of the protocol, one per order by its dialect.
var (
	deliveredWords = []string{"success", "completed", "done", "accept", "ok", "complete"}
	pendingWords   = []string{"wait", "pending", "processing", "inprogress", "queued", "accepted"}
	failedWords    = []string{"rejected", "cancelled", "failed", "canceled", "reject", "fail"}
	pinFields      = []string{"pin", "code", "voucher", "serial"}
)

// item renders an order as the protocol's data object. The caller holds b.mu.
func (b *Barakat) item(o *order) map[string]any {
	d := o.dialect
	m := map[string]any{"order_id": o.ID, "order_uuid": o.Ref, "price": o.Price}
	var note string
	switch o.State {
	case StateDelivered:
		m["status"] = deliveredWords[d%len(deliveredWords)]
		m[pinFields[(d/8)%len(pinFields)]] = o.PIN
		note = "Order completed"
	case StateCancelled:
		m["status"] = failedWords[d%len(failedWords)]
		note = "Order cancelled by the provider"
	default:
		m["status"] = pendingWords[d%len(pendingWords)]
		note = "Processing..."
	}
	if (d/64)%2 == 0 {
		m["note"] = note
	} else {
		m["replay_api"] = []string{note}
	}
	return m
}
