package providertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"watan"
)

// Credentials a znet simulator accepts unless ZnetOptions say otherwise.
const (
	DefaultZnetKod   = "5550000000"
	DefaultZnetSifre = "sim-sifre"
)

// ZnetProduct is one product of a simulated znet catalog.
type ZnetProduct struct {
	ID          string
	Name        string
	Description string
	GameID      string
	GameName    string
	Price       watan.Amount
	Kupur       string
	OyunBilgiID string // sent as "oyun" when placing
}

// DefaultZnetProducts is the catalog of providers.md §1.2.
func DefaultZnetProducts() []ZnetProduct {
	return []ZnetProduct{
		{ID: "2", Name: "PUBG Mobile 325 UC", Description: "Oyun otomatik olarak yuklenir.325 UC", GameID: "1", GameName: "PUBG", Price: 35_00, Kupur: "325", OyunBilgiID: "1"},
		{ID: "3", Name: "PUBG Mobile 60 UC", Description: "PUBG Mobile 60 UC.", GameID: "1", GameName: "PUBG", Price: 7_30, Kupur: "60", OyunBilgiID: "1"},
	}
}

// ZnetOptions configure a znet simulator.
type ZnetOptions struct {
	Options
	// Kod and Sifre are the dealer credentials it accepts; any other pair gets
	// znet's empty answer. Defaults DefaultZnetKod and DefaultZnetSifre.
	Kod   string
	Sifre string
	// Products is the catalog. Default DefaultZnetProducts.
	Products []ZnetProduct
}

// Znet is a simulated znet dealer panel: GET /servis/{bakiye_kontrol, pin_listesi,
// pin_ekle, pin_kontrol}.php, answered exactly as providers.md §1 describes.
type Znet struct {
	*sim
	kod, sifre string
	products   []ZnetProduct
}

// NewZnet returns a znet simulator. Serve it with Start, or mount Handler.
func NewZnet(o ZnetOptions) *Znet {
	z := &Znet{sim: newSim("znet", o.Options, 166189), kod: o.Kod, sifre: o.Sifre, products: o.Products}
	if z.kod == "" {
		z.kod = DefaultZnetKod
	}
	if z.sifre == "" {
		z.sifre = DefaultZnetSifre
	}
	if z.products == nil {
		z.products = DefaultZnetProducts()
	}
	return z
}

// StartZnet starts a znet simulator on a loopback port for the duration of a test.
func StartZnet(tb TB, o ZnetOptions) *Znet {
	tb.Helper()
	z := NewZnet(o)
	listenLoopback(tb, z.Start, z.Close)
	return z
}

// Start serves the simulator on l until Close; URL then returns its base URL.
func (z *Znet) Start(l net.Listener) { z.start(l, z.Handler()) }

// Handler serves the protocol at /servis/…; mount it under a prefix with
// http.StripPrefix to share a server.
func (z *Znet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/servis/bakiye_kontrol.php", z.endpoint(OpBalance, z.balanceAnswer))
	mux.HandleFunc("/servis/pin_listesi.php", z.endpoint(OpCatalog, z.catalogAnswer))
	mux.HandleFunc("/servis/pin_ekle.php", z.endpoint(OpPlace, z.placeAnswer))
	mux.HandleFunc("/servis/pin_kontrol.php", z.endpoint(OpCheck, z.checkAnswer))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		z.serve(w, r, OpUnknown, false, redactQuery(r.URL.Query(), "kod", "sifre"), func() response {
			return response{http.StatusNotFound, contentText, "<html><body><h1>404 Not Found</h1></body></html>"}
		})
	})
	return mux
}

// endpoint wraps an answer function with recording, faults and the credential
// check. Like the PHP panel it reads the query whatever the method.
func (z *Znet) endpoint(op Op, answer func(url.Values) response) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ok := q.Get("kod") == z.kod && q.Get("sifre") == z.sifre
		z.serve(w, r, op, ok, redactQuery(q, "kod", "sifre"), func() response {
			if !ok {
				return text("") // znet's answer to an unknown dealer, API off or IP not whitelisted
			}
			return answer(q)
		})
	}
}

func (z *Znet) balanceAnswer(url.Values) response {
	z.mu.Lock()
	defer z.mu.Unlock()
	return text("OK|" + z.balance.String())
}

func (z *Znet) catalogAnswer(url.Values) response {
	type item struct {
		ID          string `json:"id"`
		Adi         string `json:"adi"`
		Aciklama    string `json:"aciklama"`
		OyunID      string `json:"oyun_id"`
		OyunAdi     string `json:"oyun_adi"`
		Fiyat       string `json:"fiyat"`
		Kupur       string `json:"kupur"`
		OyunBilgiID string `json:"oyun_bilgi_id"`
	}
	items := make([]item, 0, len(z.products))
	for _, p := range z.products {
		items = append(items, item{p.ID, p.Name, p.Description, p.GameID, p.GameName, p.Price.String(), p.Kupur, p.OyunBilgiID})
	}
	b, err := json.Marshal(struct {
		Success bool   `json:"success"`
		Result  []item `json:"result"`
		Error   any    `json:"error"`
	}{true, items, nil})
	if err != nil {
		panic(err) // plain strings always marshal
	}
	return text(string(b))
}

func (z *Znet) placeAnswer(q url.Values) response {
	ref := strings.TrimSpace(q.Get("referans"))
	z.mu.Lock()
	defer z.mu.Unlock()
	if ref == "" || strings.Trim(ref, "0123456789") != "" {
		return text("3|Referans Bilgisi Hatalı")
	}
	z.placements[ref]++
	if o := z.orders[ref]; o != nil {
		return text(fmt.Sprintf("4|Daha Önce Gönderilmiş (%s)", o.ID))
	}
	var p *ZnetProduct
	for i := range z.products {
		if z.products[i].OyunBilgiID == q.Get("oyun") && z.products[i].Kupur == q.Get("kupur") {
			p = &z.products[i]
		}
	}
	switch {
	case p == nil:
		return text("3|Kupur Bilgisi Bulunamadı")
	case strings.TrimSpace(q.Get("oyuncu_bilgi")) == "":
		return text("3|Oyuncu Bilgisi Boş Olamaz")
	case z.balance < p.Price:
		return text("8|Bağlantı hatası veya yetersiz bakiye")
	}
	params := map[string]string{"oyun": q.Get("oyun"), "kupur": q.Get("kupur"),
		"oyuncu_bilgi": q.Get("oyuncu_bilgi"), "musteri_tel": q.Get("musteri_tel")}
	z.create(ref, p.ID, params, 1, p.Price, 0)
	return text(fmt.Sprintf("OK|%s|%s", p.Price, z.balance))
}

// pendingPINs are the placeholders panels put in the PIN field of a pending order.
var pendingPINs = []string{" ", " - ", "-", ""}

func (z *Znet) checkAnswer(q url.Values) response {
	z.mu.Lock()
	defer z.mu.Unlock()
	o := z.orders[strings.TrimSpace(q.Get("tahsilat_api_islem_id"))]
	if o == nil {
		return text("3|İşlem Bulunamadı")
	}
	z.settle(o)
	switch o.State {
	case StateDelivered:
		return text("OK|2|" + o.PIN + "|İşlem tamamlandı")
	case StateCancelled:
		return text("OK|3| |İşlem iptal edildi")
	}
	return text("OK|1|" + pendingPINs[o.dialect%len(pendingPINs)] + "|İşlem bekleniyor")
}
