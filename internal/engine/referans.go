package engine

import "fmt"

// referans builds the order's reference for its n-th placement (n ≥ 1): "1", the
// order id in 12 digits, and n in 2 digits. It is numeric (znet refuses anything
// else), unique by construction within a database, and 15 digits long, so it can
// never equal a reference of the system we replace (milliseconds plus three random
// digits: 16 digits).
func referans(orderID int64, n int) string {
	return fmt.Sprintf("1%012d%02d", orderID, n%100)
}
